import os
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from simulator.demo import DEMO_PASSWORD, DEMO_USERNAME, demo_seed


class Command(BaseCommand):
    help = (
        "Seed a small simulated world and train a first ranker on it; does nothing when a world exists. "
        "The `demo` admin's password is demo-password in development (DEBUG on) only: elsewhere it is "
        "--password or DEMO_PASSWORD, or one made here and printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=300)
        parser.add_argument("--days", type=int, default=3)
        parser.add_argument("--password", default=None, help="the demo admin's password (or set DEMO_PASSWORD)")

    def handle(self, *, users, days, password, **options):
        password = password or os.environ.get("DEMO_PASSWORD") or None
        made_here = False
        if not settings.DEBUG:
            # An admin with a published password is an open door on any
            # server reachable by someone else.
            if password == DEMO_PASSWORD:
                raise CommandError(f"Refusing the published password {DEMO_PASSWORD!r} with DEBUG off.")
            if password is None:
                password, made_here = secrets.token_urlsafe(18), True
        password = password or DEMO_PASSWORD
        if not demo_seed(users=users, days=days, password=password):
            self.stdout.write("A world exists already: not seeding again.")
            if settings.DEBUG:
                self.stdout.write(f"Demo login: {DEMO_USERNAME} / {DEMO_PASSWORD}")
            return
        self.stdout.write(f"Seeded a demo world ({users} people, {days} simulated days) and trained a ranker on it.")
        if made_here:
            self.stdout.write(f"Demo login: {DEMO_USERNAME} / {password}  (made now and shown only once: keep it)")
        elif settings.DEBUG and password == DEMO_PASSWORD:
            self.stdout.write(f"Demo login: {DEMO_USERNAME} / {DEMO_PASSWORD}")
        else:
            self.stdout.write(f"Demo login: {DEMO_USERNAME} with the password you gave.")
