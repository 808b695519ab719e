import time

from django.core.management.base import BaseCommand, CommandError

from ranking.metrics import engagement_report
from simulator.models import World
from simulator.simulation import MODES, simulate


class Command(BaseCommand):
    help = "Build (or extend) the synthetic world and let its people browse for some days."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=2000, help="people in a new world (default 2000)")
        parser.add_argument("--days", type=int, default=7, help="days to simulate (default 7)")
        parser.add_argument("--seed", type=int, default=1, help="seed of a new world (default 1)")
        parser.add_argument("--mode", choices=MODES, default="latest", help="how feeds are served (default latest)")

    def handle(self, *, users, days, seed, mode, **options):
        if users < 10 or days < 1:
            raise CommandError("--users must be at least 10 and --days at least 1")
        world = World.objects.first()
        if world is not None:
            self.stdout.write(f"Extending the existing world (seed {world.seed}, {world.days} days so far).")
        started = time.perf_counter()
        run = simulate(users=users, days=days, seed=seed, mode=mode)
        elapsed = time.perf_counter() - started
        report = engagement_report(start=run.first_day.date(), end=run.last_day.date()).total
        self.stdout.write(
            f"Simulated {days} day(s) of {run.users} users in {mode} mode "
            f"({run.first_day:%Y-%m-%d}..{run.last_day:%Y-%m-%d}) in {elapsed:.1f} s.\n"
            f"  active users {report.active_users}, weighted engagement per active user "
            f"{report.weighted_engagement_per_user:.3f}, negative actions per active user "
            f"{report.negative_actions_per_user:.4f}\n"
            f"  counts {report.counts}"
        )
