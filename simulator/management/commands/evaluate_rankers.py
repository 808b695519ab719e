import json

from django.core.management.base import BaseCommand, CommandError

from simulator.comparison import ComparisonError, rankers_compare


class Command(BaseCommand):
    help = (
        "Compare the chronological feed, the learned ranker and the oracle on one simulated world "
        "(run on an empty database; it is left as found)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--users", type=int, default=2000)
        parser.add_argument("--train-days", type=int, default=7)
        parser.add_argument("--test-days", type=int, default=2)
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")

    def handle(self, *, seed, users, train_days, test_days, json: bool, **options):
        try:
            result = rankers_compare(seed=seed, users=users, train_days=train_days, test_days=test_days)
        except ComparisonError as exc:
            raise CommandError(str(exc)) from exc
        if json:
            self.stdout.write(to_json(result.as_dict()))
            return
        self.stdout.write(
            f"World seed {seed}: {users} people, trained on {train_days} days, compared on {test_days} held-out days.\n"
            "Weighted engagement per active user:"
        )
        for ranker, score in result.scores.items():
            self.stdout.write(f"  {ranker:8} {score:8.3f}")
        share = result.recovered_share
        self.stdout.write(f"Recovered share of the oracle's lift: {share:.2f}" if share is not None else "No lift.")
        self.stdout.write(f"Model {result.model['name']}: {to_json(result.model['metrics'])}")


def to_json(data) -> str:
    return json.dumps(data, indent=2, default=str)
