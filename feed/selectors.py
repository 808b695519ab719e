"""Reads on tweets. Lists come back as a bounded page plus the viewer's state
for it (liked, retweeted), each in a constant number of queries."""

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from feed.models import Hide, Like, Report, Tweet
from users.models import Follow, User


@dataclass(frozen=True)
class ViewerState:
    """Which of a page's tweets (originals) the viewer liked or retweeted."""

    liked_ids: frozenset[int] = frozenset()
    retweeted_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class TimelineCursor:
    """Where a timeline page ends: keyset on (created_at, id), plus the feed
    request the pages belong to and the position the next page starts at."""

    created_at: datetime
    tweet_id: int
    position: int
    feed_request_id: uuid.UUID

    def encode(self) -> str:
        payload = [self.created_at.isoformat(), self.tweet_id, self.position, str(self.feed_request_id)]
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()

    @classmethod
    def decode(cls, token: str) -> "TimelineCursor":
        try:
            created_at, tweet_id, position, feed_request_id = json.loads(base64.urlsafe_b64decode(token))
            cursor = cls(datetime.fromisoformat(created_at), int(tweet_id), int(position), uuid.UUID(feed_request_id))
        except (binascii.Error, ValueError, TypeError, AttributeError) as exc:
            raise ValidationError({"cursor": "Invalid cursor."}) from exc
        if cursor.position < 0 or cursor.created_at.tzinfo is None:
            raise ValidationError({"cursor": "Invalid cursor."})
        return cursor


def tweets_hydrated() -> QuerySet[Tweet]:
    """Visible tweets with everything a tweet card shows, in the same query."""
    return Tweet.objects.visible().select_related("author", "retweet_of__author")


def tweet_get(*, tweet_id: int) -> Tweet | None:
    return tweets_hydrated().filter(pk=tweet_id).first()


def viewer_state(*, viewer: User | None, tweets: list[Tweet]) -> ViewerState:
    """The viewer's likes and retweets among `tweets` (and their originals): two queries."""
    if viewer is None or not viewer.is_authenticated or not tweets:
        return ViewerState()
    ids = {tweet.original.pk for tweet in tweets}
    liked = Like.objects.filter(user=viewer, tweet_id__in=ids).values_list("tweet_id", flat=True)
    retweeted = Tweet.objects.filter(author=viewer, retweet_of_id__in=ids, deleted_at__isnull=True).values_list(
        "retweet_of_id", flat=True
    )
    return ViewerState(liked_ids=frozenset(liked), retweeted_ids=frozenset(retweeted))


def timeline_latest(*, viewer: User, before: TimelineCursor | None, limit: int) -> list[Tweet]:
    """The reverse-chronological home timeline: tweets and retweets by the
    viewer's followees and the viewer, newest first, never what the viewer
    hid or reported (nor retweets of it)."""
    followees = Follow.objects.filter(follower=viewer).values("followee")
    tweets = tweets_hydrated().filter(Q(author__in=followees) | Q(author=viewer))
    for removed in (Hide.objects.filter(user=viewer), Report.objects.filter(user=viewer)):
        removed_ids = removed.values("tweet")
        tweets = tweets.exclude(pk__in=removed_ids).exclude(retweet_of__in=removed_ids)
    if before is not None:
        tweets = tweets.filter(
            Q(created_at__lt=before.created_at) | Q(created_at=before.created_at, pk__lt=before.tweet_id)
        )
    return list(tweets.order_by("-created_at", "-pk")[:limit])
