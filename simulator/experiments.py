"""Online experiments checked against the synthetic world's ground truth.

The world lives `train_days` on the chronological feed and a model trains on
that log, as in simulator/comparison.py. Then the same people live the same
held-out days four times, each from the same starting point (a savepoint
rolled back after it), each time through the product's own experiment
machinery (assignment, tagged feed requests and events, the readout):

- everyone on `latest` and everyone on the learned model (two A/A tests of
  one ranker each): the true effect of the model, over the same people;
- split 50/50 between the two: the A/B readout a data scientist would get,
  whose interval should cover the true effect;
- team-draft interleaving of the two, for everyone.

The A/A false-positive rate comes from re-randomising the everyone-on-latest
users into two halves many times; the users each method needs for 95 %
power, from the per-user values of the runs. Everything happens in one
transaction rolled back at the end: the database is left as it was found.
"""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone
from scipy import stats as distributions

from feed.models import FeedRequest
from ranking.experiments import stats
from ranking.experiments.assignment import running_experiment_forget
from ranking.experiments.lifecycle import VariantSpec, experiment_create, experiment_start, experiment_stop
from ranking.experiments.readout import Readout, experiment_readout
from ranking.models import Experiment
from ranking.training.train import train_ranker
from simulator.comparison import ComparisonError
from simulator.models import World
from simulator.simulation import ORACLE, midnight, simulate

AB, INTERLEAVE = Experiment.Design.AB, Experiment.Design.INTERLEAVE
# The four lives of the held-out days: (experiment, design, variants).
LIVES = {
    "everyone-latest": (AB, [VariantSpec("a", "latest", 50), VariantSpec("b", "latest", 50)]),
    "everyone-learned": (AB, [VariantSpec("a", "active", 50), VariantSpec("b", "active", 50)]),
    "latest-vs-learned": (AB, [VariantSpec("control", "latest", 50), VariantSpec("treatment", "active", 50)]),
    "interleaved": (INTERLEAVE, [VariantSpec("latest", "latest", 100), VariantSpec("active", "active", 100)]),
}
POWER, ALPHA = 0.95, 0.05


@dataclass(frozen=True)
class ExperimentEvaluation:
    seed: int
    users: int
    train_days: int
    test_days: int
    model: str
    true_effect: dict  # each ranker's mean per exposed user with everyone on it, and the lift
    ab: dict  # the A/B readout's comparison, and whether its interval covers the true lift
    aa: dict  # the A/A false-positive rate over re-randomisations, and its binomial bounds
    interleaving: dict  # the interleaving readout
    users_needed: dict  # for 95 % power: the A/B metric, interleaving, and their ratio
    readouts: dict  # experiment -> its whole readout

    def as_dict(self) -> dict:
        return asdict(self)


def _between(value: float, low: float | None, high: float | None) -> bool | None:
    return None if low is None or high is None else bool(low <= value <= high)


def _pooled(readout: Readout) -> np.ndarray:
    """Every exposed user's metric, whatever their (identical) arm."""
    return np.concatenate([arm.metric for arm in readout.arms.values()])


def _held_out(*, name: str, seed: int, users: int, days: int) -> Readout:
    design, variants = LIVES[name]
    experiment = experiment_create(
        name=name, design=design, variants=variants, salt=f"seed-{seed}", extra_rankers=(ORACLE,)
    )
    world = World.objects.get()
    first_day = world.start + timedelta(days=world.days)
    experiment = experiment_start(experiment=experiment, at=first_day)
    simulate(users=users, days=days, seed=seed, mode=FeedRequest.Mode.RANKED)
    experiment = experiment_stop(experiment=experiment, at=first_day + timedelta(days=days))
    return experiment_readout(experiment=experiment)


def experiment_evaluate(
    *, seed: int, users: int, train_days: int, test_days: int, aa_rounds: int = 1000, start: datetime | None = None
) -> ExperimentEvaluation:
    if World.objects.exists():
        raise ComparisonError("This database holds a simulated world already: evaluate on an empty one.")
    start = start or midnight(timezone.now()) - timedelta(days=train_days + test_days)
    readouts = {}
    with transaction.atomic():
        simulate(users=users, days=train_days, seed=seed, mode=FeedRequest.Mode.LATEST, start=start)
        trained = train_ranker(activate=True)
        for name in LIVES:
            savepoint = transaction.savepoint()
            try:
                readouts[name] = _held_out(name=name, seed=seed, users=users, days=test_days)
            finally:
                transaction.savepoint_rollback(savepoint)
                # The cache said which experiment runs: none does any more.
                running_experiment_forget()
        transaction.set_rollback(True)  # leave the database as it was

    latest, learned = _pooled(readouts["everyone-latest"]), _pooled(readouts["everyone-learned"])
    # As the readout's lift: relative to the baseline's size, whatever its sign.
    true_lift = float((learned.mean() - latest.mean()) / abs(latest.mean()))
    comparison = readouts["latest-vs-learned"].as_dict()["comparisons"][0]
    aa = stats.aa_false_positive_rate(latest, rounds=aa_rounds, seed=seed, alpha=ALPHA)
    low, high = distributions.binom.interval(0.95, aa_rounds, ALPHA)
    interleaving = readouts["interleaved"].interleaving
    ab_users = stats.users_needed_ab(latest, learned, power=POWER, alpha=ALPHA)
    interleaving_users = stats.users_needed_interleaving(
        interleaving.first_credit, interleaving.second_credit, power=POWER, alpha=ALPHA
    )
    return ExperimentEvaluation(
        seed=seed,
        users=users,
        train_days=train_days,
        test_days=test_days,
        model=trained.version.name,
        true_effect={"latest": float(latest.mean()), "learned": float(learned.mean()), "lift": float(true_lift)},
        ab={
            **comparison,
            "covers_true_lift": _between(true_lift, comparison["lift_ci_low"], comparison["lift_ci_high"]),
        },
        aa={
            "rounds": aa_rounds,
            "users": len(latest),
            "false_positive_rate": aa.false_positive_rate,
            "expected": ALPHA,
            "bounds_95": [low / aa_rounds, high / aa_rounds],
            "within_bounds": _between(aa.false_positive_rate, low / aa_rounds, high / aa_rounds),
        },
        interleaving=interleaving.as_dict(),
        users_needed={
            "power": POWER,
            "alpha": ALPHA,
            "ab": ab_users,
            "interleaving": interleaving_users,
            "ratio": ab_users / interleaving_users if ab_users and interleaving_users else None,
        },
        readouts={name: readout.as_dict() for name, readout in readouts.items()},
    )
