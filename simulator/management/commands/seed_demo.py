from django.core.management.base import BaseCommand

from simulator.demo import DEMO_PASSWORD, DEMO_USERNAME, demo_seed


class Command(BaseCommand):
    help = "Seed a small simulated world and train a first ranker on it; does nothing when a world exists."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=300)
        parser.add_argument("--days", type=int, default=3)

    def handle(self, *, users, days, **options):
        if demo_seed(users=users, days=days):
            self.stdout.write(
                f"Seeded a demo world ({users} people, {days} simulated days) and trained a ranker on it."
            )
        else:
            self.stdout.write("A world exists already: not seeding again.")
        self.stdout.write(f"Demo login: {DEMO_USERNAME} / {DEMO_PASSWORD}")
