"""Rankers compared in one synthetic world: the chronological feed (floor),
the learned model, and the oracle that knows the hidden truth (ceiling).

The world lives for `train_days` on the chronological feed; the model trains
on that log; then the same people live the same held-out days three times,
once per ranker, each time from the same starting point (a savepoint rolled
back after it). Everything happens in one transaction that is rolled back at
the end: the database is left as it was found.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from feed.models import FeedRequest
from ranking.metrics import engagement_report
from ranking.training.train import train_ranker
from simulator.models import World
from simulator.simulation import midnight, simulate

RANKERS = {"latest": FeedRequest.Mode.LATEST, "learned": FeedRequest.Mode.RANKED, "oracle": FeedRequest.Mode.ORACLE}


class ComparisonError(Exception):
    pass


@dataclass(frozen=True)
class RankerComparison:
    seed: int
    users: int
    train_days: int
    test_days: int
    scores: dict[str, float]  # ranker -> weighted engagement per active user, held-out days
    reports: dict[str, dict]  # ranker -> the whole metric
    model: dict  # the learned model's name and validation metrics

    @property
    def recovered_share(self) -> float | None:
        """(learned - latest) / (oracle - latest): the share of the oracle's lift the model recovers."""
        lift = self.scores["oracle"] - self.scores["latest"]
        return (self.scores["learned"] - self.scores["latest"]) / lift if lift > 0 else None

    def as_dict(self) -> dict:
        return {
            **self.scores,
            "recovered_share": self.recovered_share,
            "heads": self.model["metrics"].get("heads"),
            "seed": self.seed,
            "users": self.users,
            "train_days": self.train_days,
            "test_days": self.test_days,
            "reports": self.reports,
            "model": self.model,
        }


def rankers_compare(
    *, seed: int, users: int, train_days: int, test_days: int, start: datetime | None = None
) -> RankerComparison:
    """Simulate, train, and replay the held-out days under each ranker."""
    if World.objects.exists():
        raise ComparisonError("This database holds a simulated world already: compare rankers on an empty one.")
    start = start or midnight(timezone.now()) - timedelta(days=train_days + test_days)
    scores, reports = {}, {}
    with transaction.atomic():
        simulate(users=users, days=train_days, seed=seed, mode=FeedRequest.Mode.LATEST, start=start)
        trained = train_ranker(activate=True)
        for ranker, mode in RANKERS.items():
            savepoint = transaction.savepoint()
            run = simulate(users=users, days=test_days, seed=seed, mode=mode)
            total = engagement_report(start=run.first_day.date(), end=run.last_day.date()).total
            scores[ranker], reports[ranker] = total.weighted_engagement_per_user, total.as_dict()
            transaction.savepoint_rollback(savepoint)
        transaction.set_rollback(True)  # leave the database as it was
    model = {"name": trained.version.name, "metrics": trained.version.metrics}
    return RankerComparison(seed, users, train_days, test_days, scores, reports, model)
