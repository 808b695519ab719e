from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.utils import timezone

from feed import services
from feed.models import Engagement
from ranking.serving.candidates import Candidate, CandidateSet, candidates_for
from ranking.serving.features import serving_features
from ranking.spec import AFFINITY_WINDOW, ATTRIBUTION_WINDOW, COLUMN, NUMERIC_FEATURES, as_of, window_start
from ranking.training import builder
from ranking.training.builder import built_examples
from ranking.training.examples import features_as_of, training_examples
from simulator.simulation import simulate
from tests.factories import UserFactory, follow, tweet
from tests.ranking.parity import assert_same_examples
from users import services as user_services
from users.models import Follow

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)


@pytest.fixture(params=["reference", "duckdb"])
def examples_of(request):
    """Both training builders: every point-in-time rule below holds for the
    reference evaluator and for the DuckDB builder alike."""
    return {"reference": training_examples, "duckdb": built_examples}[request.param]


def impression(user, target, at, feed_request=None):
    services.engagements_log(
        user=user, events=[services.ClientEvent(target.pk, "impression", feed_request=feed_request)], at=at
    )


def test_an_engagement_never_leaks_into_the_features_of_its_own_impression(examples_of):
    viewer, author = UserFactory.create_batch(2)
    follow(viewer, author)
    posted = tweet(author, "leak test", at=T0 - timedelta(hours=1))
    impression(viewer, posted, T0)
    # The like comes at the very instant of the impression, then another person's like after.
    services.like_create(user=viewer, tweet=posted, at=T0)
    services.like_create(user=UserFactory(), tweet=posted, at=T0 + timedelta(seconds=5))

    examples = examples_of()

    assert len(examples) == 1
    assert examples.labels["like"][0] == 1  # the label sees it...
    assert examples.features.column("tweet_likes")[0] == 0  # ...the features never do
    assert examples.features.column("aff_likes")[0] == 0
    candidate_set = CandidateSet(viewer.pk, frozenset([author.pk]), [candidate(posted)])
    assert serving_features(candidate_set=candidate_set, at=T0).column("tweet_likes")[0] == 0
    later = serving_features(candidate_set=candidate_set, at=T0 + timedelta(minutes=1))
    assert later.column("tweet_likes")[0] == 2
    assert later.column("aff_likes")[0] == 1


def test_labels_come_from_the_attribution_window_only(examples_of):
    viewer, author = UserFactory.create_batch(2)
    posted = tweet(author, "late like", at=T0 - timedelta(hours=1))
    impression(viewer, posted, T0)
    services.like_create(user=viewer, tweet=posted, at=T0 + timedelta(hours=2))

    examples = examples_of(until=T0 + timedelta(minutes=1))

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
        with django_assert_num_queries(6):
            batch = serving_features(candidate_set=candidate_set, at=now)
        assert len(batch) == len(candidate_set.candidates)
    assert batch.column("aff_likes").max() == 6
    assert batch.column("follows_author").min() == 1


def test_serving_and_both_training_builders_compute_the_same_features():
    """Three ways, one definition: the serving evaluator on a sample of
    impressions, the reference builder and the DuckDB builder on all."""
    simulate(users=60, days=2, seed=4, mode="latest", start=T0)
    examples = training_examples()
    assert len(examples) > 300
    assert_same_examples(built_examples(), examples)
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


def training_row(examples, viewer, posted) -> np.ndarray:
    """The features of `viewer`'s impression of `posted` among `examples`."""
    rows = np.flatnonzero((examples.features.viewer_id == viewer.pk) & (examples.features.text == posted.text))
    assert len(rows) == 1
    return examples.features.numeric[rows[0]]


def test_an_unfollow_after_an_impression_leaves_its_training_features_unchanged(examples_of):
    viewer, author, fan, other = UserFactory.create_batch(4)
    for follower, followee in ((viewer, author), (author, viewer), (viewer, fan), (other, author)):
        user_services.follow_create(follower=follower, followee=followee, at=T0 - timedelta(days=2))
    posted = tweet(author, "before the unfollow", at=T0 - timedelta(hours=2))
    services.like_create(user=fan, tweet=posted, at=T0 - timedelta(hours=1))
    impression(viewer, posted, T0)
    now = T0 + timedelta(days=1)

    before = training_row(examples_of(now=now), viewer, posted).copy()
    for follower, followee in ((viewer, author), (author, viewer), (viewer, fan), (other, author)):
        user_services.follow_delete(follower=follower, followee=followee, at=T0 + timedelta(minutes=5))
    after = examples_of(now=now)

    assert training_row(after, viewer, posted).tolist() == before.tolist()
    features = dict(zip(NUMERIC_FEATURES, before.tolist(), strict=True))
    assert (features["follows_author"], features["author_follows_viewer"]) == (1, 1)
    assert (features["author_followers"], features["followees_engaged"]) == (2, 1)
    # An impression after the unfollows sees them, in both evaluators.
    later = tweet(author, "after the unfollow", at=T0 + timedelta(minutes=10))
    services.like_create(user=fan, tweet=later, at=T0 + timedelta(minutes=11))
    impression(viewer, later, T0 + timedelta(minutes=20))
    row = dict(zip(NUMERIC_FEATURES, training_row(examples_of(now=now), viewer, later).tolist(), strict=True))
    assert [row[name] for name in ("follows_author", "author_follows_viewer", "author_followers")] == [0, 0, 0]
    assert row["followees_engaged"] == 0
    served = serving_features(
        candidate_set=CandidateSet(viewer.pk, frozenset(), [candidate(later)]), at=T0 + timedelta(minutes=20)
    )
    assert served.numeric[0].tolist() == pytest.approx(list(row.values()))


def test_a_refollow_counts_from_its_own_time(examples_of):
    viewer, author = UserFactory.create_batch(2)
    user_services.follow_create(follower=viewer, followee=author, at=T0 - timedelta(days=1))
    user_services.follow_delete(follower=viewer, followee=author, at=T0 - timedelta(hours=3))
    user_services.follow_create(follower=viewer, followee=author, at=T0 - timedelta(hours=1))
    gap = tweet(author, "seen while not following", at=T0 - timedelta(hours=4))
    back = tweet(author, "seen after following again", at=T0 - timedelta(hours=4))
    impression(viewer, gap, T0 - timedelta(hours=2))
    impression(viewer, back, T0)

    examples = examples_of(now=T0 + timedelta(days=1))

    assert training_row(examples, viewer, gap)[COLUMN["follows_author"]] == 0
    assert training_row(examples, viewer, back)[COLUMN["follows_author"]] == 1
    assert training_row(examples, viewer, back)[COLUMN["author_followers"]] == 1


def test_impressions_whose_attribution_window_is_open_are_not_examples(examples_of):
    viewer, author = UserFactory.create_batch(2)
    now = timezone.now()
    settled = tweet(author, "settled", at=now - timedelta(hours=3))
    recent = tweet(author, "still open", at=now - timedelta(hours=3))
    impression(viewer, settled, now - ATTRIBUTION_WINDOW - timedelta(minutes=1))
    impression(viewer, recent, now - ATTRIBUTION_WINDOW + timedelta(minutes=1))
    services.like_create(user=viewer, tweet=recent, at=now - timedelta(minutes=50))

    for examples in (examples_of(), examples_of(until=now + timedelta(days=1))):
        assert examples.features.text.tolist() == ["settled"]
    # Given a later "now", the same impression is settled and labelled.
    later = examples_of(now=now + ATTRIBUTION_WINDOW)
    assert training_row(later, viewer, recent)[COLUMN["tweet_likes"]] == 0
    assert later.labels["like"][later.features.text == "still open"].tolist() == [1.0]


def test_both_evaluators_count_a_tweets_engagements_over_the_affinity_window_of_whole_days(examples_of):
    viewer, author, old_fan, new_fan = UserFactory.create_batch(4)
    for fan in (old_fan, new_fan):
        user_services.follow_create(follower=viewer, followee=fan, at=T0 - timedelta(days=90))
    posted = tweet(author, "an old tweet", at=T0 - timedelta(days=60))
    # The window starts at midnight UTC of the day AFFINITY_WINDOW before T0 (12:00), not at T0 - AFFINITY_WINDOW.
    start = window_start(T0, AFFINITY_WINDOW)
    assert start == T0 - AFFINITY_WINDOW - timedelta(hours=12)
    services.like_create(user=old_fan, tweet=posted, at=start - timedelta(minutes=1))
    services.like_create(user=new_fan, tweet=posted, at=start + timedelta(minutes=1))
    dwell = services.ClientEvent(posted.pk, "dwell", dwell_ms=5000)
    services.engagements_log(user=old_fan, events=[dwell], at=start - timedelta(minutes=1))
    impression(viewer, posted, T0)

    row = training_row(examples_of(since=T0 - timedelta(days=1), now=T0 + timedelta(days=1)), viewer, posted)
    served = serving_features(
        candidate_set=CandidateSet(viewer.pk, frozenset([old_fan.pk, new_fan.pk]), [candidate(posted)]), at=T0
    )

    for features in (row, served.numeric[0]):
        assert features[COLUMN["tweet_likes"]] == 1
        assert features[COLUMN["followees_engaged"]] == 1
        assert features[COLUMN["tweet_mean_log_dwell"]] == 0  # the only dwell is older than the window
    assert served.numeric[0].tolist() == pytest.approx(row.tolist())


def test_an_event_in_the_build_times_millisecond_counts_in_neither_evaluator():
    viewer, author = UserFactory.create_batch(2)
    user_services.follow_create(follower=viewer, followee=author, at=T0 - timedelta(days=1))
    posted = tweet(author, "a busy millisecond", at=T0 - timedelta(hours=1))
    build = T0 + timedelta(microseconds=700)  # a build time with a part-millisecond
    for at in (T0 - timedelta(microseconds=1), T0, T0 + timedelta(microseconds=300), build):
        services.like_create(user=UserFactory(), tweet=posted, at=at)

    served = serving_features(
        candidate_set=CandidateSet(viewer.pk, frozenset([author.pk]), [candidate(posted)]), at=as_of(build)
    )
    query = {"viewer": [viewer.pk], "tweet": [posted.pk], "author": [author.pk], "at": [as_of(build)]}
    trained = features_as_of(**query)
    built = builder.features_as_of(**query)

    # Only the like of the millisecond before counts; the build's own millisecond is in neither.
    assert served.column("tweet_likes").tolist() == trained.column("tweet_likes").tolist() == [1]
    assert served.numeric.tolist() == trained.numeric.tolist()
    np.testing.assert_allclose(built.numeric, trained.numeric, rtol=1e-6)  # and the example builder's
    # Without the rounding, serving would count two of the same-millisecond likes that training cannot see.
    unrounded = serving_features(
        candidate_set=CandidateSet(viewer.pk, frozenset([author.pk]), [candidate(posted)]), at=build
    )
    assert unrounded.column("tweet_likes").tolist() == [3]
    assert as_of(build) == T0
