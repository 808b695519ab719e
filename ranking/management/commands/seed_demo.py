from django.core.management.base import BaseCommand

from ranking.simulation import DEMO_PASSWORD, DEMO_USERNAME, demo_seed


class Command(BaseCommand):
    help = "Seed a small simulated world on first start; does nothing when a world exists."

    def handle(self, **options):
        if demo_seed():
            self.stdout.write("Seeded a demo world (300 people, 3 simulated days) and trained a first ranker on it.")
        else:
            self.stdout.write("A world exists already: not seeding again.")
        self.stdout.write(f"Demo login: {DEMO_USERNAME} / {DEMO_PASSWORD}")
