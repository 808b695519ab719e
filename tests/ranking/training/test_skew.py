"""The skew report: served feature rows against the training evaluator's
recomputation as of each list's build time."""

import json
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone

from feed import services
from feed.models import Engagement, FeedRequest, ServedItem, Tweet
from ranking.serving.pipeline import feed_build
from ranking.spec import COLUMN, FEATURE_SPEC_FINGERPRINT, NUMERIC_FEATURES, as_of
from ranking.training.builder import built_examples
from ranking.training.examples import training_examples
from ranking.training.skew import feature_skew
from simulator.models import World
from simulator.simulation import Simulation, simulate
from tests.factories import UserFactory, tweet
from tests.ranking.parity import assert_same_examples
from users import services as user_services
from users.models import Follow, FollowEvent, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def served_world(api_for, active_model):
    """A viewer with a history, their ranked list built at a time with a
    part-millisecond, and one page of it served."""
    client = api_for()
    viewer = client.user
    authors, fans = UserFactory.create_batch(3), UserFactory.create_batch(3)
    now = timezone.now()
    for author in authors:
        user_services.follow_create(follower=viewer, followee=author, at=now - timedelta(days=3))
    user_services.follow_create(follower=authors[0], followee=viewer, at=now - timedelta(days=3))
    user_services.follow_create(follower=viewer, followee=fans[0], at=now - timedelta(days=3))
    for n in range(9):
        posted = tweet(authors[n % 3], f"tweet {n} about rivers and trains", at=now - timedelta(hours=n + 1))
        for fan in fans[: n % 4]:
            services.like_create(user=fan, tweet=posted, at=now - timedelta(hours=n, minutes=30))
        services.engagements_log(
            user=fans[1], events=[services.ClientEvent(posted.pk, "dwell", dwell_ms=1000 * (n + 1))], at=now
        )
    older = tweet(authors[1], "an older one about rivers", at=now - timedelta(days=2))
    services.engagements_log(
        user=viewer,
        events=[
            services.ClientEvent(older.pk, "impression"),
            services.ClientEvent(older.pk, "dwell", dwell_ms=12_000),
        ],
        at=now - timedelta(days=2) + timedelta(minutes=1),
    )
    services.like_create(user=viewer, tweet=older, at=now - timedelta(days=2) + timedelta(minutes=2))
    built = feed_build(user_id=viewer.pk, at=now + timedelta(microseconds=1))  # a part-millisecond
    assert built.built_at != now + timedelta(microseconds=1)
    body = client.get("/api/feed/?mode=ranked&limit=20").json()
    assert body["ranking"] == "ranked"
    return body


def test_the_report_finds_no_skew_where_the_evaluators_agree(served_world):
    report = feature_skew()

    assert report.items == 9
    assert report.fingerprint == FEATURE_SPEC_FINGERPRINT
    assert (report.items_differing, report.differing_features) == (0, [])
    assert [f.feature for f in report.features] == list(NUMERIC_FEATURES)
    assert max(f.max_abs_diff for f in report.features) < 1e-4
    # Not a world of zeros: the features compared carry the history.
    served = np.array(list(ServedItem.objects.values_list("features", flat=True)))
    for name in ("follows_author", "author_follows_viewer", "tweet_likes", "followees_engaged", "aff_likes"):
        assert served[:, COLUMN[name]].max() > 0, name


def test_a_tampered_feature_is_reported_and_rounding_is_not(served_world):
    items = list(ServedItem.objects.filter(feed_request_id=served_world["feed_request"]).order_by("position"))
    tampered, rounded = items[0], items[1]
    tampered.features[COLUMN["tweet_likes"]] += 2
    rounded.features[COLUMN["age_h"]] *= 1 + 1e-7  # below float32's resolution, relatively
    ServedItem.objects.bulk_update([tampered, rounded], ["features"])

    report = feature_skew()

    assert report.differing_features == ["tweet_likes"]
    likes = report.features[COLUMN["tweet_likes"]]
    assert (likes.differing, likes.share, likes.max_abs_diff) == (1, pytest.approx(1 / 9), 2.0)
    assert report.items_differing == 1


def test_only_items_of_the_current_spec_with_features_are_compared(served_world):
    items = list(ServedItem.objects.order_by("position"))
    ServedItem.objects.filter(pk=items[0].pk).update(feature_spec="another-spec")
    ServedItem.objects.filter(pk=items[1].pk).update(features=None, feature_spec="")

    assert feature_skew().items == 7
    assert feature_skew(sample=3).items == 3
    assert feature_skew(since=timezone.now() + timedelta(days=1)).items == 0


def test_the_command_prints_the_report_as_a_table_or_as_json(served_world, capsys):
    call_command("feature_skew")
    table = capsys.readouterr().out
    call_command("feature_skew", "--json", "--sample", "4", "--since", "2020-01-01")
    report = json.loads(capsys.readouterr().out)

    assert "9 served items of feature spec" in table and "No feature differs." in table
    assert "followees_engaged" in table
    assert report["items"] == 4 and report["items_differing"] == 0
    assert [f["feature"] for f in report["features"]] == list(NUMERIC_FEATURES)
    assert report["fingerprint"] == FEATURE_SPEC_FINGERPRINT


def test_the_command_says_when_nothing_was_served_under_this_spec(db, capsys):
    call_command("feature_skew")

    assert "none served yet under this spec" in capsys.readouterr().out


@pytest.mark.slow
def test_no_skew_on_a_simulated_world_with_unfollows_deleted_tweets_and_events_at_one_instant(active_model):
    """Serving, the reference builder and the DuckDB builder agree. Two
    ranked days of a simulated world, its feeds built at simulated times as
    Simulation.serve builds them; between the days, people unfollow
    authors they were served, re-follow, and tweets served on the first day
    are deleted; on the second, other events share the instant (and the
    millisecond) of feed builds."""
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=4)
    simulate(users=60, days=1, seed=5, mode="ranked", start=start)
    assert FollowEvent.objects.filter(kind="follow").count() == Follow.objects.count() > 0
    simulation = Simulation(World.objects.get())
    between = simulation.day_start(1) + timedelta(minutes=1)  # after day 0's events, before day 1's visits

    # Unfollows of authors whose tweets were served as followed, one edge followed again.
    followed = [
        (viewer, author)
        for viewer, author, features in ServedItem.objects.filter(features__isnull=False).values_list(
            "feed_request__user_id", "tweet__author_id", "features"
        )
        if features[COLUMN["follows_author"]] == 1
    ]
    unfollowed = sorted(set(followed))[::3][:12]
    people = User.objects.in_bulk({user_id for pair in unfollowed for user_id in pair})
    for viewer, author in unfollowed:
        user_services.follow_delete(follower=people[viewer], followee=people[author], at=between)
    viewer, author = unfollowed[0]
    user_services.follow_create(follower=people[viewer], followee=people[author], at=between + timedelta(seconds=1))
    # Tweets served on day 0, deleted by their authors.
    deleted = list(Tweet.objects.filter(pk__in=ServedItem.objects.values("tweet_id")).order_by("pk")[::4][:8])
    for posted in deleted:
        services.tweet_delete(tweet=posted, by=posted.author)
    # Events at the instant of day 1's visits (when their feeds are built), and in the same millisecond before it.
    tweets = list(Tweet.objects.filter(deleted_at__isnull=True, retweet_of__isnull=True).order_by("-pk")[:40])
    for n, (at, person, _) in enumerate(simulation.sessions_of_day(1)[:25]):
        viewer = simulation.users[person]
        target = tweets[n % len(tweets)]
        same_millisecond = max(as_of(at), at - timedelta(microseconds=1))
        services.engagements_log(
            user=viewer,
            events=[services.ClientEvent(tweets[(n + 1) % len(tweets)].pk, "impression")],
            at=same_millisecond,
        )
        services.like_create(user=simulation.users[(person + 1) % len(simulation.users)], tweet=target, at=at)
    simulate(users=60, days=1, seed=5, mode="ranked")

    report = feature_skew(sample=100_000)

    assert report.items > 300
    assert report.differing_features == [], report.as_dict()
    compared = ServedItem.objects.filter(features__isnull=False)
    assert compared.filter(tweet__deleted_at__isnull=False).exists()
    day_0 = compared.filter(feed_request__built_at__lt=between)
    pairs = {(v, a) for v, a in day_0.values_list("feed_request__user_id", "tweet__author_id")}
    assert pairs & set(unfollowed[1:])  # served as followed before the unfollow: still followed as of then
    assert Engagement.objects.filter(
        kind="like", created_at__in=[at for at, _, _ in simulation.sessions_of_day(1)]
    ).exists()
    assert FeedRequest.objects.filter(mode="ranked", built_at__gte=between).exists()
    # The third way: the DuckDB builder gives the reference's examples of this world.
    reference = training_examples()
    assert len(reference) > 300
    assert_same_examples(built_examples(), reference)
