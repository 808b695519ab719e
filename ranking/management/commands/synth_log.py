import json

from django.core.management.base import BaseCommand

from ranking.bench.synth_log import synth_log


class Command(BaseCommand):
    help = "Write a synthetic engagement log (heavy-tailed authors and activity) into PostgreSQL with COPY."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=1_000_000)
        parser.add_argument("--users", type=int, default=20_000)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--followees", type=int, default=None, help="every user follows this many (default: heavy-tailed, ~20)"
        )
        parser.add_argument("--days", type=int, default=14)
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *, events, users, seed, followees, days, as_json, **options):
        summary = synth_log(events=events, users=users, seed=seed, followees=followees, days=days)
        if as_json:
            self.stdout.write(json.dumps(summary.as_dict()))
            return
        self.stdout.write(
            f"{summary.events:,} events ({summary.impressions:,} impressions) by {summary.users:,} users on "
            f"{summary.tweets:,} tweets, {summary.follow_edges:,} follow edges, {summary.feed_requests:,} feed "
            f"requests, {summary.since} to {summary.until}, in {summary.seconds:.1f} s"
        )
