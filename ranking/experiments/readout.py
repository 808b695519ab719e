"""An experiment's readout: per variant, who was assigned and exposed, the
primary metric per exposed user with its interval, the guardrails; the
relative lift of each variant over the first (CUPED when pre-period data
exists); the sample-ratio check; and for interleaving, the preference.

Each exposed user is one row of the analysis (ranking.experiments.stats):
their own sums over the window, zeros when they did nothing. All counting
is done in the database, in a handful of queries whatever the log's size.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from feed.models import Engagement, FeedRequest, ServedItem
from ranking.experiments import stats
from ranking.experiments.assignment import INTERLEAVED, RunningExperiment
from ranking.metrics import ACTION_KINDS, period_bounds
from ranking.models import Experiment
from users.models import User

Kind = Engagement.Kind
# Per user, beside the weighted engagement: rare and heavily weighted
# negative actions dominate the metric's variance, so they get figures of
# their own.
GUARDRAILS = ("negative_actions", "hides", "reports", "long_dwells")
METRIC_NOTE = (
    "metric.mean is weighted engagement per exposed user: each user with a feed request of the experiment in the "
    "window counts once, with their own sum of weighted engagement over the window (zero when they did nothing). "
    "headline is the README's metric for the same users: their total weighted engagement per active user (an "
    "exposed user shown at least one tweet). Same total, different denominators: "
    "metric.mean = headline * active / exposed."
)


def _counts(dwell_long_ms: int) -> dict:
    """Per-user counts of every kind the metric weighs, and impressions."""
    counts = {kind.value: Count("pk", filter=Q(kind=kind)) for kind in (Kind.IMPRESSION, *ACTION_KINDS)}
    counts["dwell"] = Count("pk", filter=Q(kind=Kind.DWELL, dwell_ms__gte=dwell_long_ms))
    return counts


def _weighted(row: dict, weights: dict[str, float]) -> float:
    return sum(weight * row[kind] for kind, weight in weights.items())


def _guardrails(row: dict) -> dict[str, int]:
    return {
        "negative_actions": row[Kind.HIDE] + row[Kind.REPORT],
        "hides": row[Kind.HIDE],
        "reports": row[Kind.REPORT],
        "long_dwells": row["dwell"],
    }


@dataclass(frozen=True)
class Exposure:
    """Who was exposed in the window (user id -> variant), and each exposed
    user's counts in the window and in the pre-period (users without events
    are absent)."""

    since: datetime | None
    until: datetime | None
    exposed: dict[int, str]
    window: dict[int, dict]
    pre: dict[int, dict]


@dataclass(frozen=True)
class ExposedArm:
    """One variant's exposed users, one row each, in the same order in every array."""

    users: list[int]
    metric: np.ndarray  # weighted engagement in the window
    pre: np.ndarray  # weighted engagement in the pre-period
    guardrails: dict[str, np.ndarray]
    active: int  # with an impression in the window


@dataclass(frozen=True)
class VariantReadout:
    name: str
    ranker: str
    weight: int
    assigned: int
    exposed: int
    active: int
    metric: stats.Estimate
    headline: float | None
    guardrails: dict[str, stats.Estimate]

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "ranker": self.ranker,
            "weight": self.weight,
            "assigned": self.assigned,
            "exposed": self.exposed,
            "active": self.active,
            "metric": self.metric.as_dict(),
            "headline": self.headline,
            "guardrails": {name: estimate.as_dict() for name, estimate in self.guardrails.items()},
        }


def _lift_dict(lift: stats.Lift) -> dict:
    return {"lift": lift.lift, "lift_ci_low": lift.ci_low, "lift_ci_high": lift.ci_high, "p_value": lift.p_value}


@dataclass(frozen=True)
class Comparison:
    variant: str
    baseline: str
    lift: stats.Lift
    guardrails: dict[str, stats.Lift]

    def as_dict(self) -> dict:
        return {
            "variant": self.variant,
            "baseline": self.baseline,
            **_lift_dict(self.lift),
            "cuped": self.lift.cuped,
            "guardrails": {name: _lift_dict(lift) for name, lift in self.guardrails.items()},
        }


@dataclass(frozen=True)
class Interleaving:
    preference: stats.Ratio  # share of credited weighted engagement won by teams[1]
    teams: tuple[str, str]
    # The weighted engagement credited to each team in all: a share means
    # "won" only while their sum is positive.
    credit: tuple[float, float]

    def as_dict(self) -> dict:
        return {
            "preference": self.preference.ratio,
            "ci_low": self.preference.ci_low,
            "ci_high": self.preference.ci_high,
            "p_value": self.preference.p_value,
            "users": self.preference.users,
            "teams": list(self.teams),
            "credit": list(self.credit),
        }


@dataclass(frozen=True)
class Readout:
    experiment: str
    design: str
    status: str
    start: date | None
    end: date | None
    since: datetime | None
    until: datetime | None
    srm: stats.SampleRatio
    variants: list[VariantReadout]
    comparisons: list[Comparison]
    interleaving: Interleaving | None
    pre_period_days: int

    def as_dict(self) -> dict:
        return {
            "experiment": self.experiment,
            "design": self.design,
            "status": self.status,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "window": {
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
            },
            "pre_period_days": self.pre_period_days,
            "weights": settings.ENGAGEMENT_WEIGHTS,
            "dwell_long_ms": settings.DWELL_LONG_MS,
            "metric_note": METRIC_NOTE,
            "srm": self.srm.as_dict(),
            "variants": [variant.as_dict() for variant in self.variants],
            "comparisons": [comparison.as_dict() for comparison in self.comparisons],
            "interleaving": self.interleaving.as_dict() if self.interleaving else None,
        }


def _window(experiment: Experiment, start: date | None, end: date | None) -> tuple[date, date, datetime, datetime]:
    """The days asked for (default: the experiment's whole life) and their
    bounds clipped to its life; an empty window when they miss it."""
    stopped = experiment.stopped_at or timezone.now()
    start = start or timezone.localdate(experiment.started_at)
    end = end or timezone.localdate(stopped)
    since, until = period_bounds(start, end)
    since, until = max(since, experiment.started_at), min(until, stopped)
    return start, end, since, max(since, until)


def _per_user(log: QuerySet, counts: dict) -> dict[int, dict]:
    return {row["user_id"]: row for row in log.values("user_id").annotate(**counts).order_by()}


def _arms(names: list[str], exposure: Exposure, weights: dict) -> dict[str, ExposedArm]:
    users_of = defaultdict(list)
    for user_id, variant in exposure.exposed.items():
        users_of[variant].append(user_id)
    arms = {}
    for name in names:
        users = users_of[name]
        rows = [exposure.window.get(user_id) for user_id in users]
        pre_rows = [exposure.pre.get(user_id) for user_id in users]
        guardrails = [_guardrails(row) if row else dict.fromkeys(GUARDRAILS, 0) for row in rows]
        arms[name] = ExposedArm(
            users=users,
            metric=np.array([_weighted(row, weights) if row else 0.0 for row in rows]),
            pre=np.array([_weighted(row, weights) if row else 0.0 for row in pre_rows]),
            guardrails={g: np.array([row[g] for row in guardrails], dtype=float) for g in GUARDRAILS},
            active=sum(1 for row in rows if row and row[Kind.IMPRESSION] > 0),
        )
    return arms


def _variant_readout(*, name: str, ranker: str, weight: int, assigned: int, arm: ExposedArm) -> VariantReadout:
    return VariantReadout(
        name=name,
        ranker=ranker,
        weight=weight,
        assigned=assigned,
        exposed=len(arm.users),
        active=arm.active,
        metric=stats.mean_ci(arm.metric),
        headline=float(arm.metric.sum() / arm.active) if arm.active else None,
        guardrails={g: stats.mean_ci(values) for g, values in arm.guardrails.items()},
    )


def _interleaving(experiment: Experiment, log: QuerySet, users: list[int], teams: tuple[str, str]) -> Interleaving:
    """Each action on an item a team picked is credited to that team, with
    its weight; per user, the credit of each team; the preference is the
    share of it all won by the second team, clustered by user."""
    team = ServedItem.objects.filter(
        feed_request_id=OuterRef("feed_request_id"), position=OuterRef("position")
    ).exclude(team="")
    # Only what earns credit: impressions (most of the log) never do.
    credit_kinds = Q(kind__in=ACTION_KINDS) | Q(kind=Kind.DWELL, dwell_ms__gte=settings.DWELL_LONG_MS)
    credited = (
        log.filter(credit_kinds, feed_request__experiment=experiment)
        .annotate(team=Subquery(team.values("team")[:1]))
        # Grouped by team without filtering on it: a filter would run the
        # subquery a second time per event. Rows of no team are dropped below.
        .values("user_id", "team")
        .annotate(**_counts(settings.DWELL_LONG_MS))
        .order_by()
    )
    credit = {(row["user_id"], row["team"]): _weighted(row, settings.ENGAGEMENT_WEIGHTS) for row in credited}
    first = np.array([credit.get((user_id, teams[0]), 0.0) for user_id in users])
    second = np.array([credit.get((user_id, teams[1]), 0.0) for user_id in users])
    preference = stats.ratio_of_means(second, first + second, null=0.5)
    return Interleaving(preference, teams, (float(first.sum()), float(second.sum())))


def _exposure(experiment: Experiment, since: datetime, until: datetime) -> Exposure:
    requests = FeedRequest.objects.filter(experiment=experiment, created_at__gte=since, created_at__lt=until)
    # A user's variant is the one of their first request in the window
    # (assignment is stable, so it is their only one).
    exposed = dict(requests.order_by("user_id", "created_at").distinct("user_id").values_list("user_id", "variant"))
    exposed_users = requests.values("user_id")
    counts = _counts(settings.DWELL_LONG_MS)
    started = experiment.started_at
    pre_since = started - timedelta(days=settings.EXPERIMENT_PRE_PERIOD_DAYS)
    return Exposure(
        since=since,
        until=until,
        exposed=exposed,
        window=_per_user(_window_log(experiment, since, until), counts),
        pre=_per_user(
            Engagement.objects.filter(created_at__gte=pre_since, created_at__lt=started, user__in=exposed_users),
            counts,
        ),
    )


def _window_log(experiment: Experiment, since: datetime, until: datetime) -> QuerySet:
    """Every event of the window's exposed users in the window."""
    exposed_users = FeedRequest.objects.filter(
        experiment=experiment, created_at__gte=since, created_at__lt=until
    ).values("user_id")
    return Engagement.objects.filter(created_at__gte=since, created_at__lt=until, user__in=exposed_users)


def _assigned(experiment: Experiment) -> Counter:
    """Users per variant by their hash, over every user (exposed or not)."""
    running = RunningExperiment.from_experiment(experiment)
    return Counter(
        assignment.variant
        for user_id in User.objects.values_list("pk", flat=True)
        if (assignment := running.assignment_for(user_id)) is not None
    )


def _ab(experiment: Experiment, variants: list, exposure: Exposure, assigned: Counter) -> dict:
    arms = _arms([v.name for v in variants], exposure, settings.ENGAGEMENT_WEIGHTS)
    baseline = arms[variants[0].name]
    # CUPED only with pre-period data: without any, every X is 0.
    with_pre = bool(exposure.pre)
    comparisons = [
        Comparison(
            variant=v.name,
            baseline=variants[0].name,
            lift=stats.relative_lift(
                arms[v.name].metric,
                baseline.metric,
                treatment_pre=arms[v.name].pre if with_pre else None,
                control_pre=baseline.pre if with_pre else None,
            ),
            guardrails={g: stats.relative_lift(arms[v.name].guardrails[g], baseline.guardrails[g]) for g in GUARDRAILS},
        )
        for v in variants[1:]
    ]
    return {
        "srm": stats.srm([len(arms[v.name].users) for v in variants], [v.weight for v in variants]),
        "variants": [
            _variant_readout(name=v.name, ranker=v.ranker, weight=v.weight, assigned=assigned[v.name], arm=arms[v.name])
            for v in variants
        ],
        "comparisons": comparisons,
        "interleaving": None,
    }


def _interleaved(experiment: Experiment, variants: list, exposure: Exposure, assigned: Counter) -> dict:
    arm = _arms([INTERLEAVED], exposure, settings.ENGAGEMENT_WEIGHTS)[INTERLEAVED]
    teams = (variants[0].name, variants[1].name)
    if exposure.since is None:
        preference = Interleaving(stats.ratio_of_means([], []), teams, (0.0, 0.0))
    else:
        preference = _interleaving(
            experiment, _window_log(experiment, exposure.since, exposure.until), arm.users, teams
        )
    ranker = " vs ".join(v.ranker for v in variants)
    return {
        # Everyone is in the one variant: there is no split to check.
        "srm": stats.SampleRatio(None, False),
        "variants": [
            _variant_readout(name=INTERLEAVED, ranker=ranker, weight=100, assigned=assigned[INTERLEAVED], arm=arm)
        ],
        "comparisons": [],
        "interleaving": preference,
    }


def experiment_readout(*, experiment: Experiment, start: date | None = None, end: date | None = None) -> Readout:
    """The readout over days `start`..`end` (inclusive, the current time
    zone), clipped to the experiment's life; by default its whole life. A
    draft, never started, reads out empty."""
    variants = list(experiment.variants.all())
    if experiment.started_at is None:
        exposure = Exposure(since=None, until=None, exposed={}, window={}, pre={})
    else:
        start, end, since, until = _window(experiment, start, end)
        exposure = _exposure(experiment, since, until)
    analyse = _interleaved if experiment.design == Experiment.Design.INTERLEAVE else _ab
    return Readout(
        experiment=experiment.name,
        design=experiment.design,
        status=experiment.status,
        start=start,
        end=end,
        since=exposure.since,
        until=exposure.until,
        pre_period_days=settings.EXPERIMENT_PRE_PERIOD_DAYS,
        **analyse(experiment, variants, exposure, _assigned(experiment)),
    )
