"""Training on a flooded engagement log (issue 12): one account's share of
the examples is capped, and a model no better than a constant predictor or
the chronological order is never activated, even when the active version
cannot be loaded. Through the real example builder, on the real log."""

import logging
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db.models import Count
from django.utils import timezone

from feed.models import Engagement, Tweet
from ranking.models import ModelVersion
from ranking.registry import active_version, register, version_activate
from ranking.spec import FEATURE_SPEC_VERSION, Examples, FeatureBatch
from ranking.tasks import train_ranker_task
from ranking.training.examples import per_user_cap
from ranking.training.synthetic import synthetic_examples
from simulator.simulation import simulate
from tests.factories import UserFactory

Status = ModelVersion.Status


def flood(viewer, *, n: int, like_share: float, start: datetime, span: timedelta, seed: int = 0) -> None:
    """`viewer` floods the log: `n` impressions, each of a new tweet, spread
    over `span` from `start`, and a like a minute after a random
    `like_share` of them, whatever the tweet. Written straight to the log
    (bulk inserts), as a flood that got past the write limits would be:
    training has to be safe whatever the log holds."""
    rng = np.random.default_rng(seed)
    authors = UserFactory.create_batch(5)
    seen_at = [start + span * float(x) for x in np.sort(rng.random(n))]
    tweets = Tweet.objects.bulk_create(
        Tweet(author=authors[i % len(authors)], text=f"flood {i} of words", created_at=at - timedelta(minutes=10))
        for i, at in enumerate(seen_at)
    )
    liked = rng.random(n) < like_share
    events = [
        Engagement(user=viewer, tweet=t, kind="impression", created_at=at)
        for t, at in zip(tweets, seen_at, strict=True)
    ]
    events += [
        Engagement(user=viewer, tweet=t, kind="like", created_at=at + timedelta(minutes=1))
        for t, at, like in zip(tweets, seen_at, liked, strict=True)
        if like
    ]
    Engagement.objects.bulk_create(events, batch_size=5000)


def broken_active_version() -> ModelVersion:
    return version_activate(
        version=register(artifact=b"not a zip", metrics={}, feature_spec_version=FEATURE_SPEC_VERSION)
    )


def test_the_cap_keeps_at_most_k_examples_of_a_viewer_spread_over_time_and_the_same_each_time():
    examples = synthetic_examples(n=3000, seed=5, viewers=40)
    flooder = examples.features.viewer_id.copy()
    flooder[:2000] = 999  # one viewer holds two thirds of the log
    features = examples.features
    flooded = Examples(
        FeatureBatch(features.numeric, features.text, flooder, features.author_id),
        examples.labels,
        examples.feed_request,
        examples.at,
    )

    keep = per_user_cap(flooded, max_per_user=100)

    counts = np.unique(flooder[keep], return_counts=True)
    assert dict(zip(*counts, strict=True))[999] == 100
    assert counts[1].max() == 100
    # Everyone under the cap keeps every example.
    assert keep[2000:].all()
    # Spread over the flooder's time, from its first example to its last.
    kept_at = np.sort(flooded.at[keep & (flooder == 999)])
    assert kept_at[0] == flooded.at[:2000].min() and kept_at[-1] == flooded.at[:2000].max()
    # Deterministic: the same log keeps the same examples, in any order.
    shuffled = np.random.default_rng(1).permutation(3000)
    again = per_user_cap(flooded.subset(shuffled), max_per_user=100)
    assert (again == keep[shuffled]).all()


@pytest.mark.slow
@pytest.mark.django_db
def test_a_model_learned_from_a_flood_of_random_likes_is_not_activated_even_when_the_active_one_cannot_load(caplog):
    """The audit's case: a retrain on a flooded log produced a model with a
    like ROC-AUC of 0.50 and activated it "because the active one cannot be
    loaded"."""
    flooder = UserFactory()
    flood(flooder, n=3000, like_share=0.3, start=timezone.now() - timedelta(days=2), span=timedelta(days=1))
    broken = broken_active_version()

    with caplog.at_level(logging.WARNING, logger="ranking.training.train"):
        outcome = train_ranker_task.apply(kwargs={"days": None}).get()

    assert outcome["trained"] and not outcome["activated"], outcome
    assert "ROC-AUC" in outcome["reason"] and "below" in outcome["reason"]
    version = ModelVersion.objects.get(name=outcome["version"])
    assert version.status == Status.CANDIDATE
    assert version.metrics["heads"]["like"]["roc_auc"] < 0.55
    assert version.metrics["decision"] == outcome["reason"]
    assert active_version() == broken  # the workers fall back from it (tests/ranking/test_recovery.py)
    assert f"Trained ranker {version.name} (candidate): not activated" in caplog.text


@pytest.mark.slow
@pytest.mark.django_db
def test_a_flooder_is_capped_and_the_model_of_the_others_replaces_one_that_cannot_load(settings):
    start, days = datetime(2026, 3, 2, tzinfo=UTC), 4
    # Four days, not three: on three the others' model beat the chronological
    # order by too little to hold across machines (TensorFlow's float sums vary).
    simulate(users=60, days=days, seed=1, mode="latest", start=start)
    per_viewer = Engagement.objects.filter(kind="impression").values("user").annotate(n=Count("id"))
    most = max(row["n"] for row in per_viewer)
    settings.TRAIN_MAX_EXAMPLES_PER_USER = most  # every simulated person under the cap
    flooder = UserFactory()
    flood(flooder, n=6 * most, like_share=0.3, start=start, span=timedelta(days=days))
    broken_active_version()

    outcome = train_ranker_task.apply(kwargs={"days": None}).get()

    version = ModelVersion.objects.get(name=outcome["version"])
    training = version.metrics["training"]
    assert training["users_capped"] == 1
    assert training["examples_dropped"] == 5 * most
    assert outcome["activated"], outcome
    assert version.metrics["heads"]["like"]["roc_auc"] >= settings.TRAIN_MIN_LIKE_ROC_AUC
    assert version.metrics["ndcg_at_10"] > version.metrics["chronological_ndcg_at_10"]
    assert "cannot be loaded" in outcome["reason"]
