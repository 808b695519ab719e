"""Online experiments checked against the synthetic world's ground truth.

The world lives `train_days` on the chronological feed and a model trains on
that log, as in simulator/comparison.py ("learned"); a second model trains
on its last days only ("challenger": a close rival, as a new model usually
is). Then the same people live the same held-out days several times, each
from the same starting point (a savepoint rolled back after it), each time
through the product's own experiment machinery (assignment, tagged feed
requests and events, the readout):

- everyone on `latest`, everyone on the learned model, everyone on the
  challenger (A/B tests whose two arms rank alike): each ranker's true
  value over the same people, hence the true effects;
- split 50/50 between `latest` and the learned model: the A/B readout a data
  scientist would get, whose interval should cover the true effect;
- team-draft interleaving of `latest` and the learned model, and of the
  learned model and the challenger, for everyone.

All lives split users with one salt, so each arm can be compared with the
same users in another life, and every life throws the same dice when a
person meets a tweet (simulator.simulation: common random numbers): how far
the A/B test's arms moved from their everyone-on-one-ranker values is the
interference between them (people see each other's retweets and replies),
not a second draw of behaviour. The A/A false-positive rate comes from
re-randomising the everyone-on-latest users into two halves many times;
the users each method needs for 95 % power, from the per-user values of the
runs. Everything happens in one transaction rolled back at the end: the
database is left as it was found.
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
POWER, ALPHA = 0.95, 0.05
CHALLENGER = "challenger"  # the challenger's team in interleaving


def _lives(challenger: str) -> dict[str, tuple[str, list[VariantSpec]]]:
    """The held-out days' lives: experiment name -> (design, variants)."""
    return {
        "everyone-latest": (AB, [VariantSpec("a", "latest", 50), VariantSpec("b", "latest", 50)]),
        "everyone-learned": (AB, [VariantSpec("a", "active", 50), VariantSpec("b", "active", 50)]),
        "everyone-challenger": (AB, [VariantSpec("a", challenger, 50), VariantSpec("b", challenger, 50)]),
        "latest-vs-learned": (AB, [VariantSpec("control", "latest", 50), VariantSpec("treatment", "active", 50)]),
        "interleaved": (INTERLEAVE, [VariantSpec("latest", "latest", 100), VariantSpec("active", "active", 100)]),
        "learned-vs-challenger-interleaved": (
            INTERLEAVE,
            [VariantSpec("active", "active", 100), VariantSpec(CHALLENGER, challenger, 100)],
        ),
    }


@dataclass(frozen=True)
class ExperimentEvaluation:
    seed: int
    users: int
    train_days: int
    test_days: int
    models: dict  # learned and challenger: their version names
    true_effect: dict  # each ranker's mean per exposed user with everyone on it, and the learned model's lift
    ab: dict  # the A/B readout's comparison, and whether its interval covers the true lift
    # How far each A/B arm moved from its users' everyone-on-one-ranker
    # values: the interference between the arms.
    interference: dict
    aa: dict  # the A/A false-positive rate over re-randomisations, and its binomial bounds
    interleaving: dict  # the two interleaving readouts
    users_needed: dict  # for 95 % power: A/B and interleaving, for each pair of rankers
    readouts: dict  # experiment -> its whole readout

    def as_dict(self) -> dict:
        return asdict(self)


def _between(value: float, low: float | None, high: float | None) -> bool | None:
    return None if low is None or high is None else bool(low <= value <= high)


def _pooled(readout: Readout) -> np.ndarray:
    """Every exposed user's metric, whatever their (like-ranked) arm."""
    return np.concatenate([arm.metric for arm in readout.arms.values()])


def _lift(treatment: float, control: float) -> float:
    """As the readout measures lifts: relative to the baseline's size."""
    return float((treatment - control) / abs(control))


def _moved(arm_in_ab, alone: Readout, arm_alone: str) -> float:
    """The relative change of an A/B arm's mean from the same users' mean
    with everyone on its ranker (the same salt put them in `arm_alone`)."""
    return _lift(float(arm_in_ab.metric.mean()), float(alone.arms[arm_alone].metric.mean()))


def _held_out(*, name: str, design: str, variants: list[VariantSpec], seed: int, users: int, days: int) -> Readout:
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
    if train_days < 2:
        raise ComparisonError("Train on 2 days at least: the challenger learns from the later half of them.")
    start = start or midnight(timezone.now()) - timedelta(days=train_days + test_days)
    readouts = {}
    with transaction.atomic():
        simulate(users=users, days=train_days, seed=seed, mode=FeedRequest.Mode.LATEST, start=start)
        learned = train_ranker(activate=True).version
        challenger = train_ranker(since=start + timedelta(days=train_days - train_days // 2), candidate=True).version
        for name, (design, variants) in _lives(challenger.name).items():
            savepoint = transaction.savepoint()
            try:
                readouts[name] = _held_out(
                    name=name, design=design, variants=variants, seed=seed, users=users, days=test_days
                )
            finally:
                transaction.savepoint_rollback(savepoint)
                # The cache said which experiment runs: none does any more.
                running_experiment_forget()
        transaction.set_rollback(True)  # leave the database as it was

    latest, learned_values, challenger_values = (
        _pooled(readouts[f"everyone-{ranker}"]) for ranker in ("latest", "learned", "challenger")
    )
    true_lift = _lift(learned_values.mean(), latest.mean())
    ab_readout = readouts["latest-vs-learned"]
    comparison = ab_readout.as_dict()["comparisons"][0]
    control, treatment = ab_readout.arms["control"], ab_readout.arms["treatment"]
    aa = stats.aa_false_positive_rate(latest, rounds=aa_rounds, seed=seed, alpha=ALPHA)
    low, high = (bound / aa_rounds for bound in distributions.binom.interval(0.95, aa_rounds, ALPHA))
    interleaved = {name: readouts[name].interleaving for name in ("interleaved", "learned-vs-challenger-interleaved")}
    return ExperimentEvaluation(
        seed=seed,
        users=users,
        train_days=train_days,
        test_days=test_days,
        models={"learned": learned.name, "challenger": challenger.name},
        true_effect={
            "latest": float(latest.mean()),
            "learned": float(learned_values.mean()),
            "challenger": float(challenger_values.mean()),
            "lift": true_lift,
            "challenger_lift_over_learned": _lift(challenger_values.mean(), learned_values.mean()),
        },
        ab={**comparison, "true_lift": true_lift, "covers_true_lift": _between(true_lift, *_interval(comparison))},
        interference={
            "control_moved": _moved(control, readouts["everyone-latest"], "a"),
            "treatment_moved": _moved(treatment, readouts["everyone-learned"], "b"),
        },
        aa={
            "rounds": aa_rounds,
            "users": len(latest),
            "false_positive_rate": aa.false_positive_rate,
            "expected": ALPHA,
            "bounds_95": [low, high],
            "within_bounds": _between(aa.false_positive_rate, low, high),
        },
        interleaving={name: preference.as_dict() for name, preference in interleaved.items()},
        users_needed={
            "power": POWER,
            "alpha": ALPHA,
            "latest_vs_learned": _users_needed(
                ab_true=(latest, learned_values),
                ab_observed=(control.metric, treatment.metric),
                interleaving=interleaved["interleaved"],
            ),
            "learned_vs_challenger": _users_needed(
                ab_true=(learned_values, challenger_values),
                ab_observed=None,
                interleaving=interleaved["learned-vs-challenger-interleaved"],
            ),
        },
        readouts={name: readout.as_dict() for name, readout in readouts.items()},
    )


def _interval(comparison: dict) -> tuple[float | None, float | None]:
    return comparison["lift_ci_low"], comparison["lift_ci_high"]


def _users_needed(*, ab_true, ab_observed, interleaving) -> dict:
    """Users for 95 % power: an A/B test of the true difference (everyone on
    each ranker; and of the difference its own run observed, when there was
    one), and interleaving of its run's preference."""
    ab = stats.users_needed_ab(*ab_true, power=POWER, alpha=ALPHA)
    needed = {
        "ab": ab,
        "ab_observed": stats.users_needed_ab(*ab_observed, power=POWER, alpha=ALPHA) if ab_observed else None,
        "interleaving": stats.users_needed_interleaving(
            interleaving.first_credit, interleaving.second_credit, power=POWER, alpha=ALPHA
        ),
    }
    needed["ab_over_interleaving"] = ab / needed["interleaving"] if ab and needed["interleaving"] else None
    return needed
