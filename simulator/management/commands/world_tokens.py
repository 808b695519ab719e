import json
import os

from django.core.management.base import BaseCommand, CommandError

from simulator.tokens import world_tokens


class Command(BaseCommand):
    help = (
        "One API token per person of the simulated world, as JSON ([{username, token}]): "
        "to --out (readable by its owner only), or printed. For the load test (make load)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="only the world's first LIMIT people")
        parser.add_argument("--out", default=None, help="a file to write them to, instead of printing them")

    def handle(self, *, limit, out, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        tokens = world_tokens(limit=limit)
        if not tokens:
            raise CommandError("No simulated world here: seed one first (manage.py seed_demo).")
        text = json.dumps(tokens, indent=1)
        if out is None:
            self.stdout.write(text)
            return
        # Tokens are credentials: the file is its owner's alone from its creation.
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(text + "\n")
        self.stdout.write(f"Wrote {len(tokens)} tokens to {out}.")
