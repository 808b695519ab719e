"""A hand-built experiment log whose per-user sums the tests work out by hand."""

from datetime import UTC, datetime

import pytest

from tests.factories import UserFactory, tweet
from tests.ranking.experiments.world import MAR_1, MAR_3, WEIGHTS, events, experiment_make, request


@pytest.fixture(autouse=True)
def simple_weights(settings):
    settings.ENGAGEMENT_WEIGHTS = WEIGHTS
    settings.DWELL_LONG_MS = 10_000
    settings.EXPERIMENT_PRE_PERIOD_DAYS = 14


@pytest.fixture
def ab_world(db):
    """Three exposed users per arm, whose sums are worked out by hand below."""
    target = tweet(text="everyone's tweet")
    experiment = experiment_make(variants=(("control", "latest", 50), ("treatment", "active", 50)))
    c1, c2, c3, t1, t2, t3, outsider = UserFactory.create_batch(7)
    for user, variant in [(c1, "control"), (c2, "control"), (c3, "control")]:
        request(user, experiment, variant)
    for user, variant in [(t1, "treatment"), (t2, "treatment"), (t3, "treatment")]:
        request(user, experiment, variant)
    request(t1, experiment, "treatment", at=MAR_3)
    # After the stop: exposes nobody.
    request(outsider, experiment, "control", at=datetime(2026, 3, 4, 19, tzinfo=UTC))

    events(c1, target, "impression", "impression", "impression", "like", "like", "reply")  # 4, active
    events(c1, target, "like", at=MAR_1)  # pre-period: 1
    events(c1, target, "like", at=datetime(2026, 3, 4, 19, tzinfo=UTC))  # after the stop: not counted
    # c2: exposed, did nothing: 0, not active.
    events(c3, target, "impression", "hide", "dwell:12000", "dwell:3000")  # -10 + 5 = -5, active
    # The morning the experiment started, before it did: pre-period (2).
    events(c3, target, "like", "like", at=datetime(2026, 3, 2, 8, tzinfo=UTC))
    events(t1, target, "impression", "impression", "like")  # 1, active
    events(t1, target, "retweet", at=MAR_3)  # 3 more: 4
    events(t1, target, "reply", at=MAR_1)  # pre-period: 2
    events(t2, target, "like")  # 1, no impression: not active
    events(t3, target, "impression", "report", "like", "like", "like")  # -100 + 3 = -97, active
    events(outsider, target, "impression", "reply", "report")  # never exposed in the window
    return experiment
