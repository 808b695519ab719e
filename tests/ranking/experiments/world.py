"""Helpers to hand-build an experiment's log: feed requests and events at chosen times."""

import uuid
from datetime import UTC, datetime

from feed.models import Engagement, FeedRequest
from ranking.models import Experiment, Variant

STARTED = datetime(2026, 3, 2, 9, tzinfo=UTC)
STOPPED = datetime(2026, 3, 4, 18, tzinfo=UTC)
MAR_1 = datetime(2026, 3, 1, 12, tzinfo=UTC)
MAR_2 = datetime(2026, 3, 2, 10, tzinfo=UTC)
MAR_3 = datetime(2026, 3, 3, 10, tzinfo=UTC)
WEIGHTS = {"like": 1.0, "reply": 2.0, "retweet": 3.0, "hide": -10.0, "report": -100.0, "dwell": 5.0}


def experiment_make(name="ranker-test", design=Experiment.Design.AB, variants=(("control", "latest", 50),)):
    experiment = Experiment.objects.create(
        name=name, design=design, salt=name, status=Experiment.Status.STOPPED, started_at=STARTED, stopped_at=STOPPED
    )
    for order, (variant, ranker, weight) in enumerate(variants):
        Variant.objects.create(experiment=experiment, name=variant, ranker=ranker, weight=weight, order=order)
    return experiment


def request(user, experiment, variant, at=MAR_2):
    return FeedRequest.objects.create(
        id=uuid.uuid4(), user=user, mode="latest", experiment=experiment, variant=variant, created_at=at
    )


def events(user, target, *kinds, at=MAR_2, **fields):
    """Engagement rows; a kind "dwell:MS" is a dwell of MS milliseconds."""
    rows = []
    for kind in kinds:
        name, _, dwell_ms = kind.partition(":")
        rows.append(
            Engagement(
                user=user,
                tweet=target,
                kind=name,
                dwell_ms=int(dwell_ms) if dwell_ms else None,
                created_at=at,
                **fields,
            )
        )
    Engagement.objects.bulk_create(rows)
