from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.utils import timezone

from feed import services
from feed.models import Engagement
from ranking.serving.candidates import Candidate, CandidateSet, candidates_for
from ranking.serving.features import serving_features
from ranking.spec import COLUMN, NUMERIC_FEATURES
from ranking.training.examples import training_examples
from simulator.simulation import simulate
from tests.factories import UserFactory, follow, tweet
from users.models import Follow

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)


def impression(user, target, at, feed_request=None):
    services.engagements_log(
        user=user, events=[services.ClientEvent(target.pk, "impression", feed_request=feed_request)], at=at
    )


def test_an_engagement_never_leaks_into_the_features_of_its_own_impression():
    viewer, author = UserFactory.create_batch(2)
    follow(viewer, author)
    posted = tweet(author, "leak test", at=T0 - timedelta(hours=1))
    impression(viewer, posted, T0)
    # The like comes at the very instant of the impression, then another person's like after.
    services.like_create(user=viewer, tweet=posted, at=T0)
    services.like_create(user=UserFactory(), tweet=posted, at=T0 + timedelta(seconds=5))

    examples = training_examples()

    assert len(examples) == 1
    assert examples.labels["like"][0] == 1  # the label sees it...
    assert examples.features.column("tweet_likes")[0] == 0  # ...the features never do
    assert examples.features.column("aff_likes")[0] == 0
    candidate_set = CandidateSet(viewer.pk, frozenset([author.pk]), [candidate(posted)])
    assert serving_features(candidate_set=candidate_set, at=T0).column("tweet_likes")[0] == 0
    later = serving_features(candidate_set=candidate_set, at=T0 + timedelta(minutes=1))
    assert later.column("tweet_likes")[0] == 2
    assert later.column("aff_likes")[0] == 1


def test_labels_come_from_the_attribution_window_only():
    viewer, author = UserFactory.create_batch(2)
    posted = tweet(author, "late like", at=T0 - timedelta(hours=1))
    impression(viewer, posted, T0)
    services.like_create(user=viewer, tweet=posted, at=T0 + timedelta(hours=2))

    examples = training_examples(until=T0 + timedelta(minutes=1))

    assert examples.labels["like"].tolist() == [0.0]


def candidate(t):
    return Candidate(t.pk, t.author_id, t.text, t.created_at, t.reply_to_id is not None, "followee")


def test_serving_features_cost_the_same_few_queries_for_few_or_many_candidates(django_assert_num_queries):
    viewer = UserFactory()
    authors = UserFactory.create_batch(10)
    follow(viewer, *authors)
    for n in range(60):
        posted = tweet(authors[n % 10], f"tweet number {n}")
        services.like_create(user=viewer, tweet=posted)
    now = timezone.now()
    every = candidates_for(viewer_id=viewer.pk, at=now)
    few = CandidateSet(viewer.pk, every.followee_ids, every.candidates[:3])

    for candidate_set in (few, every):
        with django_assert_num_queries(4):
            batch = serving_features(candidate_set=candidate_set, at=now)
        assert len(batch) == len(candidate_set.candidates)
    assert batch.column("aff_likes").max() == 6
    assert batch.column("follows_author").min() == 1


def test_training_and_serving_compute_the_same_features():
    simulate(users=60, days=2, seed=4, mode="latest", start=T0)
    examples = training_examples()
    assert len(examples) > 300
    rng = np.random.default_rng(0)
    for i in rng.choice(len(examples), 25, replace=False):
        viewer, at = int(examples.features.viewer_id[i]), datetime.fromtimestamp(examples.at[i], UTC)
        text, author = examples.features.text[i], int(examples.features.author_id[i])
        shown = next(
            t
            for t in Engagement.objects.filter(user_id=viewer, kind="impression").select_related("tweet")
            if t.tweet.text == text and t.tweet.author_id == author
        ).tweet
        followees = frozenset(Follow.objects.filter(follower_id=viewer).values_list("followee_id", flat=True))
        served = serving_features(candidate_set=CandidateSet(viewer, followees, [candidate(shown)]), at=at)
        mismatch = [
            NUMERIC_FEATURES[j]
            for j in np.flatnonzero(~np.isclose(served.numeric[0], examples.features.numeric[i], atol=1e-3))
        ]
        assert mismatch == [], f"example {i}"
    assert examples.features.numeric[:, COLUMN["aff_impressions"]].max() > 0
    for lift in ("aff_dwell_lift", "text_dwell_lift"):  # signed: both signs occur
        assert examples.features.column(lift).min() < 0 < examples.features.column(lift).max()
    assert examples.features.column("author_mean_log_dwell_7d").max() > 0
