from django.core.management.base import BaseCommand
from django.db import transaction

from feed.counters import counters_rebuild
from users.services import follower_counts_recount


class Command(BaseCommand):
    help = (
        "Recompute the counters kept on write (per tweet, author and viewer-author per day, and follower counts) "
        "from the engagement log and the follow graph, in one transaction."
    )

    def handle(self, **options):
        with transaction.atomic():
            counters_rebuild()
            follower_counts_recount()
        self.stdout.write("counters rebuilt from the log")
