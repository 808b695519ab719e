"""A hand-built experiment log whose per-user sums the tests work out by hand."""

from datetime import UTC, datetime

import pytest

from feed.models import ServedItem
from ranking.experiments.assignment import INTERLEAVED
from ranking.models import Experiment
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


@pytest.fixture
def interleaved_world(db):
    target = tweet(text="interleaved")
    experiment = experiment_make(
        name="interleave-test",
        design=Experiment.Design.INTERLEAVE,
        variants=(("chronological", "latest", 100), ("model", "active", 100)),
    )
    i1, i2, i3 = UserFactory.create_batch(3)
    served = {}
    for user, teams in [(i1, ["chronological", "model", "model"]), (i2, ["model", "chronological"]), (i3, ["model"])]:
        feed_request = request(user, experiment, INTERLEAVED)
        ServedItem.objects.bulk_create(
            [
                ServedItem(feed_request=feed_request, tweet=target, position=position, team=team)
                for position, team in enumerate(teams)
            ]
        )
        served[user] = feed_request

    def on(user, position, *kinds):
        events(user, target, *kinds, feed_request=served[user], position=position)

    on(i1, 0, "impression", "like")  # chronological 1 (impressions earn nothing)
    on(i1, 1, "reply")  # model 2
    on(i1, 2, "dwell:15000", "dwell:2000")  # model 5
    on(i2, 1, "retweet")  # chronological 3
    on(i2, 0, "like", "hide")  # model 1 - 10
    events(i3, target, "like")  # not from a feed request: nobody's credit
    return experiment
