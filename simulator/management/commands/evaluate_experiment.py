from django.core.management.base import BaseCommand, CommandError

from simulator.comparison import ComparisonError
from simulator.experiments import experiment_evaluate
from simulator.management.commands.evaluate_rankers import to_json


class Command(BaseCommand):
    help = (
        "Check the experiment system against a simulated world's ground truth: an A/B test of the chronological "
        "feed against the learned model beside the true effect (everyone on each), the A/A false-positive rate, "
        "and the users an A/B test and interleaving each need for 95 % power (run on an empty database; it is "
        "left as found)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--users", type=int, default=2000)
        parser.add_argument("--train-days", type=int, default=7)
        parser.add_argument("--test-days", type=int, default=2)
        parser.add_argument("--aa-rounds", type=int, default=1000, help="re-randomisations of the A/A test")
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")

    def handle(self, *, seed, users, train_days, test_days, aa_rounds, json: bool, **options):
        try:
            result = experiment_evaluate(
                seed=seed, users=users, train_days=train_days, test_days=test_days, aa_rounds=aa_rounds
            )
        except ComparisonError as exc:
            raise CommandError(str(exc)) from exc
        if json:
            self.stdout.write(to_json(result.as_dict()))
            return
        true, ab, aa = result.true_effect, result.ab, result.aa
        needed, interleaving = result.users_needed, result.interleaving
        self.stdout.write(
            f"World seed {seed}: {users} people, model {result.model} trained on {train_days} days, "
            f"{test_days} held-out days lived four times.\n"
            f"True effect (everyone on each): latest {true['latest']:.3f}, learned {true['learned']:.3f} "
            f"weighted engagement per exposed user: lift {true['lift']:+.1%}.\n"
            f"A/B 50/50: lift {ab['lift']:+.1%} [{ab['lift_ci_low']:+.1%}, {ab['lift_ci_high']:+.1%}], "
            f"p {ab['p_value']:.2g}, CUPED {'yes' if ab['cuped'] else 'no'}: "
            f"{'covers' if ab['covers_true_lift'] else 'MISSES'} the true lift.\n"
            f"A/A: {aa['false_positive_rate']:.1%} false positives over {aa['rounds']} re-randomisations "
            f"(95 % bounds {aa['bounds_95'][0]:.1%}-{aa['bounds_95'][1]:.1%}).\n"
            f"Interleaving: learned wins {interleaving['preference']:.1%} "
            f"[{interleaving['ci_low']:.1%}, {interleaving['ci_high']:.1%}] of credited weighted engagement.\n"
            f"Users for 95 % power: A/B {needed['ab']}, interleaving {needed['interleaving']}"
            + (f" ({needed['ratio']:.1f}x fewer)." if needed["ratio"] else ".")
        )
