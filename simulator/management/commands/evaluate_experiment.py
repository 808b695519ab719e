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
        true, ab, aa, moved = result.true_effect, result.ab, result.aa, result.interference
        needed = result.users_needed
        lines = [
            f"World seed {seed}: {users} people, models {result.models['learned']} (learned, {train_days} days) and "
            f"{result.models['challenger']} (challenger, the later half), held-out days ({test_days}) lived "
            f"{len(result.readouts)} times.",
            f"True values (everyone on each, weighted engagement per exposed user): latest {true['latest']:.3f}, "
            f"learned {true['learned']:.3f}, challenger {true['challenger']:.3f}; learned over latest "
            f"{true['lift']:+.1%}.",
            f"A/B 50/50 latest vs learned: lift {_percent(ab['lift'])} [{_percent(ab['lift_ci_low'])}, "
            f"{_percent(ab['lift_ci_high'])}], p {_number(ab['p_value'])}, CUPED {'yes' if ab['cuped'] else 'no'}: "
            f"{'covers' if ab['covers_true_lift'] else 'does not cover'} the true lift.",
            f"Interference: the control arm moved {moved['control_moved']:+.1%} and the treatment arm "
            f"{moved['treatment_moved']:+.1%} from their users' values with everyone on one ranker "
            "(interference between the arms: every life throws the same dice).",
            f"A/A: {aa['false_positive_rate']:.1%} false positives over {aa['rounds']} re-randomisations "
            f"(95 % bounds {aa['bounds_95'][0]:.1%}-{aa['bounds_95'][1]:.1%}).",
        ]
        for pair, label in (
            ("latest_vs_learned", "latest vs learned"),
            ("learned_vs_challenger", "learned vs challenger"),
        ):
            name = "interleaved" if pair == "latest_vs_learned" else "learned-vs-challenger-interleaved"
            preference = result.interleaving[name]
            counts = needed[pair]
            lines.append(
                f"{label}: interleaving preference for the second {_percent(preference['preference'], sign=False)} "
                f"[{_percent(preference['ci_low'], sign=False)}, {_percent(preference['ci_high'], sign=False)}]; "
                f"users for 95 % power: A/B {counts['ab']}, interleaving {counts['interleaving']}."
            )
        self.stdout.write("\n".join(lines))


def _percent(value: float | None, *, sign: bool = True) -> str:
    return "-" if value is None else f"{value:+.1%}" if sign else f"{value:.1%}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"
