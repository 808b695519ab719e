"""The synthetic log for the training benchmarks: consistent with the real tables."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db.models import F

from feed.models import Engagement, FeedRequest, Tweet
from ranking.bench.synth_log import synth_log
from users.models import Follow, FollowEvent, User

pytestmark = pytest.mark.django_db
UNTIL = datetime(2026, 3, 2, 12, tzinfo=UTC)


def test_the_synthetic_log_is_skewed_and_consistent_with_the_tables():
    summary = synth_log(events=20_000, users=300, seed=3, days=7, until=UNTIL)

    assert User.objects.count() == 300
    assert 19_000 <= Engagement.objects.count() == summary.events <= 21_000
    assert FeedRequest.objects.count() == summary.feed_requests
    # Every impression belongs to a feed request of its own viewer, at most once per position.
    impressions = Engagement.objects.filter(kind="impression")
    assert impressions.count() == summary.impressions
    assert not impressions.exclude(feed_request__user_id=F("user_id")).exists()
    # Nothing is shown before it was posted; some shown tweets are older than the 30-day windows.
    assert not impressions.filter(created_at__lt=F("tweet__created_at")).exists()
    assert impressions.filter(tweet__created_at__lt=UNTIL - timedelta(days=7 + 30)).exists()
    assert Tweet.objects.filter(deleted_at__isnull=False).exists()
    assert Tweet.objects.filter(reply_to__isnull=False).exists()
    assert Tweet.objects.filter(retweet_of__isnull=False).exists()
    # The follow log replays to the graph, and each user's follower count matches it.
    assert FollowEvent.objects.filter(kind="unfollow").exists()
    follows = FollowEvent.objects.filter(kind="follow").count()
    assert follows - FollowEvent.objects.filter(kind="unfollow").count() == Follow.objects.count()
    counted = dict(User.objects.values_list("pk", "follower_count"))
    per_user = np.bincount(
        [pk - min(counted) for pk in Follow.objects.values_list("followee_id", flat=True)], minlength=300
    )
    assert per_user.tolist() == [counted[pk] for pk in sorted(counted)]
    # Heavy tails: the busiest tenth of viewers and of authors account for most of the impressions.
    by_viewer = np.sort(np.bincount(impressions.values_list("user_id", flat=True)))[::-1]
    by_author = np.sort(np.bincount(impressions.values_list("tweet__author_id", flat=True)))[::-1]
    assert by_viewer[:30].sum() > 0.4 * summary.impressions
    assert by_author[:30].sum() > 0.4 * summary.impressions
    # Every kind of reaction, some at the very instant of their impression, a few after the attribution window.
    assert set(Engagement.objects.values_list("kind", flat=True)) == set(Engagement.Kind.values)
    # The tables take ordinary writes afterwards: the id sequences were moved past the rows written.
    assert User.objects.create(username="after_the_synth").pk > max(counted)
    assert Tweet.objects.create(author_id=min(counted), text="after").pk == Tweet.objects.order_by("-pk")[0].pk


def test_a_fixed_number_of_followees():
    summary = synth_log(events=2_000, users=200, seed=1, followees=20, days=3, until=UNTIL)

    assert FollowEvent.objects.filter(kind="follow").values("follower_id").distinct().count() == 200
    assert summary.follow_events == FollowEvent.objects.count()
    assert Follow.objects.count() == summary.follow_edges
