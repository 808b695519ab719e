"""Writes on tweets and engagements. Each product action writes its state, its
counter and its engagement event in one transaction, here and only here, so
the event log and the state can never disagree.

Every function takes an optional `at`: the simulator replays days in
simulated time through these same functions.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config import telemetry
from config.celery import enqueue
from feed.models import Engagement, FeedRequest, Hide, Like, Report, ServedItem, Tweet
from feed.selectors import FeedCursor, timeline_latest, tweets_in_order
from ranking.feeds import RankedPage, ranked_page
from ranking.tasks import fanout_tweet
from users.models import User


@dataclass(frozen=True)
class Served:
    """Where the viewer saw the tweet they act on, when known."""

    feed_request: FeedRequest | None = None
    position: int | None = None


NOT_SERVED = Served()


@dataclass(frozen=True)
class ClientEvent:
    """A passive event a client observed: an impression, a dwell or a click."""

    tweet_id: int
    kind: str
    dwell_ms: int | None = None
    feed_request: FeedRequest | None = None
    position: int | None = None


def clean_tweet_text(text: str) -> str:
    """The text as stored: stripped, 1..TWEET_MAX_CHARS characters, no NUL."""
    text = text.strip()
    if not text:
        raise ValidationError({"text": "A tweet needs some text."})
    if "\x00" in text:
        raise ValidationError({"text": "Null characters are not allowed."})
    if len(text) > settings.TWEET_MAX_CHARS:
        raise ValidationError({"text": f"A tweet has at most {settings.TWEET_MAX_CHARS} characters."})
    return text


def _event(
    *, user: User, tweet_id: int, kind: str, feed_request: FeedRequest | None, position: int | None, **fields
) -> Engagement:
    # A feed request's model version and variant are copied onto its events
    # so the metric can be grouped by them without a join.
    return Engagement(
        user=user,
        tweet_id=tweet_id,
        kind=kind,
        feed_request=feed_request,
        position=position,
        model_version=feed_request.model_version if feed_request else "",
        variant=feed_request.variant if feed_request else "",
        **fields,
    )


def _log(*, user: User, tweet: Tweet, kind: str, served: Served, at: datetime) -> None:
    _event(
        user=user,
        tweet_id=tweet.pk,
        kind=kind,
        feed_request=served.feed_request,
        position=served.position,
        created_at=at,
    ).save()


def _bump(tweet: Tweet, counter: str, delta: int) -> None:
    Tweet.objects.filter(pk=tweet.pk).update(**{counter: F(counter) + delta})


@transaction.atomic
def tweet_create(
    *,
    author: User,
    text: str,
    reply_to: Tweet | None = None,
    served: Served = NOT_SERVED,
    at: datetime | None = None,
    fanout: bool = True,
) -> Tweet:
    """Post a tweet, or a reply when `reply_to` is given (a reply to a retweet
    answers its original). A reply counts as a `reply` engagement. Once
    committed, followers' ranked feeds are marked stale (`fanout`; the
    simulator, living in simulated time, turns it off)."""
    at = at or timezone.now()
    parent = reply_to.original if reply_to else None
    tweet = Tweet.objects.create(author=author, text=clean_tweet_text(text), reply_to=parent, created_at=at)
    if parent is not None:
        _bump(parent, "reply_count", +1)
        _log(user=author, tweet=parent, kind=Engagement.Kind.REPLY, served=served, at=at)
    if fanout:
        enqueue(fanout_tweet, tweet.pk)
    return tweet


@transaction.atomic
def tweet_delete(*, tweet: Tweet, by: User) -> None:
    """Delete `by`'s own tweet. Soft: the event log keeps its rows. Idempotent."""
    if tweet.author_id != by.pk:
        raise PermissionDenied("You can only delete your own tweets.")
    removed = Tweet.objects.filter(pk=tweet.pk, deleted_at__isnull=True).update(deleted_at=timezone.now())
    if removed and tweet.reply_to_id:
        _bump(tweet.reply_to, "reply_count", -1)
    if removed and tweet.retweet_of_id:
        _bump(tweet.retweet_of, "retweet_count", -1)


def tweet_remove(*, tweet: Tweet) -> None:
    """Moderation: remove any tweet, as its author would delete it."""
    tweet_delete(tweet=tweet, by=tweet.author)


@transaction.atomic
def like_create(*, user: User, tweet: Tweet, served: Served = NOT_SERVED, at: datetime | None = None) -> Tweet:
    """Like a tweet (the original of a retweet). Idempotent. Returns the liked tweet."""
    at = at or timezone.now()
    original = tweet.original
    _, created = Like.objects.get_or_create(user=user, tweet=original, defaults={"created_at": at})
    if created:
        _bump(original, "like_count", +1)
        _log(user=user, tweet=original, kind=Engagement.Kind.LIKE, served=served, at=at)
    return original


@transaction.atomic
def like_delete(*, user: User, tweet: Tweet) -> Tweet:
    """Take a like back. Idempotent. Returns the tweet that was liked."""
    original = tweet.original
    removed, _ = Like.objects.filter(user=user, tweet=original).delete()
    if removed:
        _bump(original, "like_count", -1)
    return original


@transaction.atomic
def retweet_create(
    *, user: User, tweet: Tweet, served: Served = NOT_SERVED, at: datetime | None = None, fanout: bool = True
) -> Tweet:
    """Retweet the original of `tweet`. Idempotent. Returns the retweet."""
    at = at or timezone.now()
    original = tweet.original
    # Lock the original so two concurrent retweets by one user cannot both pass
    # the existence check (the partial unique index would reject the second).
    Tweet.objects.select_for_update().filter(pk=original.pk).first()
    existing = Tweet.objects.filter(author=user, retweet_of=original, deleted_at__isnull=True).first()
    if existing:
        return existing
    retweet = Tweet.objects.create(author=user, retweet_of=original, created_at=at)
    _bump(original, "retweet_count", +1)
    _log(user=user, tweet=original, kind=Engagement.Kind.RETWEET, served=served, at=at)
    if fanout:
        enqueue(fanout_tweet, retweet.pk)
    return retweet


def retweet_delete(*, user: User, tweet: Tweet) -> Tweet:
    """Undo `user`'s retweet of the original of `tweet`. Idempotent. Returns the original."""
    original = tweet.original
    for retweet in Tweet.objects.filter(author=user, retweet_of=original, deleted_at__isnull=True):
        tweet_delete(tweet=retweet, by=user)
    return original


@transaction.atomic
def hide_create(*, user: User, tweet: Tweet, served: Served = NOT_SERVED, at: datetime | None = None) -> Tweet:
    """Hide a tweet (and with it every retweet of it) from `user`'s feeds. Idempotent."""
    at = at or timezone.now()
    original = tweet.original
    _, created = Hide.objects.get_or_create(user=user, tweet=original, defaults={"created_at": at})
    if created:
        _log(user=user, tweet=original, kind=Engagement.Kind.HIDE, served=served, at=at)
    return original


@transaction.atomic
def report_create(
    *, user: User, tweet: Tweet, reason: str, served: Served = NOT_SERVED, at: datetime | None = None
) -> Report:
    """Report a tweet to the moderators; it also leaves the reporter's feeds.
    Idempotent: one report per user and tweet."""
    at = at or timezone.now()
    original = tweet.original
    if original.author_id == user.pk:
        raise ValidationError({"tweet": "You cannot report your own tweet."})
    if reason not in Report.Reason.values:
        raise ValidationError({"reason": f"Choose one of: {', '.join(Report.Reason.values)}."})
    report, created = Report.objects.get_or_create(
        user=user, tweet=original, defaults={"reason": reason, "created_at": at}
    )
    if created:
        _log(user=user, tweet=original, kind=Engagement.Kind.REPORT, served=served, at=at)
    return report


def reports_resolve(*, reports) -> int:
    """Moderation: mark reports handled. Returns how many changed."""
    return reports.filter(resolved=False).update(resolved=True)


def feed_request_create(
    *, user: User, mode: str, model_version: str = "", variant: str = "", at: datetime | None = None
) -> FeedRequest:
    """Record one feed load; its id tags every event logged from it."""
    return FeedRequest.objects.create(
        id=uuid.uuid4(),
        user=user,
        mode=mode,
        model_version=model_version,
        variant=variant,
        created_at=at or timezone.now(),
    )


def engagements_log(*, user: User, events: list[ClientEvent], at: datetime | None = None) -> int:
    """Append a client's batch of passive events in one insert. The caller has
    validated the batch (see feed.api.EngagementBatchSerializer). Returns how
    many were written."""
    at = at or timezone.now()
    rows = [
        _event(
            user=user,
            tweet_id=event.tweet_id,
            kind=event.kind,
            feed_request=event.feed_request,
            position=event.position,
            dwell_ms=event.dwell_ms,
            created_at=at,
        )
        for event in events
    ]
    Engagement.objects.bulk_create(rows)
    return len(rows)


@dataclass(frozen=True)
class FeedItem:
    tweet: Tweet
    position: int
    score: float | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedPage:
    """One page of a home feed, ready to render: the API and the pages both use it.
    `ranking` says what ordered it: "ranked", "pending" (no fresh ranked list
    yet: the latest timeline, while one is built) or "off" (latest asked)."""

    feed_request: FeedRequest
    mode: str
    ranking: str
    items: list[FeedItem]
    next_cursor: str | None


FEED_MODES = (FeedRequest.Mode.LATEST, FeedRequest.Mode.RANKED)


@telemetry.observes_feed_served
def feed_read(
    *, viewer: User, mode: str, cursor: str | None = None, limit: int | None = None, at: datetime | None = None
) -> FeedPage:
    """A page of `viewer`'s home feed, `limit` items long (FEED_PAGE_SIZE by
    default). The first page opens a feed request; the cursor carries it, so a
    scroll is one request with rising positions. `ranked` reads the list a
    feeds worker stored; without a fresh one it asks for a build and serves
    the latest timeline meanwhile, never waiting on the model."""
    if mode not in FEED_MODES:
        raise ValidationError({"mode": f"Choose one of: {', '.join(FEED_MODES)}."})
    limit = limit or settings.FEED_PAGE_SIZE
    if not 1 <= limit <= settings.FEED_PAGE_SIZE_MAX:
        raise ValidationError({"limit": f"Ask for 1 to {settings.FEED_PAGE_SIZE_MAX} items."})
    after = FeedCursor.decode(cursor) if cursor else None
    feed_request = None
    if after is not None:
        feed_request = FeedRequest.objects.filter(pk=after.feed_request_id, user=viewer).first()
        if feed_request is None:
            raise ValidationError({"cursor": "Invalid cursor."})
    start = after.position if after else 0

    ranking = "off"
    if mode == FeedRequest.Mode.RANKED:
        ranking = "pending"
        # A scroll that began on the latest timeline stays on it.
        if feed_request is None or feed_request.mode == FeedRequest.Mode.RANKED:
            page = ranked_page(user_id=viewer.pk, offset=start, limit=limit, continuing=after is not None, at=at)
            if page is not None:
                return _ranked_feed_page(viewer=viewer, page=page, feed_request=feed_request, start=start, at=at)

    feed_request = feed_request or feed_request_create(user=viewer, mode=FeedRequest.Mode.LATEST, at=at)
    tweets = timeline_latest(viewer=viewer, before=after, limit=limit + 1)
    more, tweets = len(tweets) > limit, tweets[:limit]
    next_cursor = None
    if more:
        last = tweets[-1]
        next_cursor = FeedCursor(feed_request.pk, start + limit, last.created_at, last.pk).encode()
    items = [FeedItem(tweet, start + offset) for offset, tweet in enumerate(tweets)]
    _served_record(feed_request=feed_request, items=items)
    return FeedPage(feed_request, feed_request.mode, ranking, items, next_cursor)


def _ranked_feed_page(*, viewer, page: RankedPage, feed_request, start: int, at) -> FeedPage:
    feed_request = feed_request or feed_request_create(
        user=viewer, mode=FeedRequest.Mode.RANKED, model_version=page.model_version, at=at
    )
    ranked = {item.tweet_id: (start + offset, item) for offset, item in enumerate(page.items)}
    items = []
    for tweet in tweets_in_order(viewer=viewer, tweet_ids=list(ranked)):
        position, item = ranked[tweet.pk]
        items.append(FeedItem(tweet, position, item.score, item.reasons))
    next_cursor = FeedCursor(feed_request.pk, start + len(page.items)).encode() if page.has_more else None
    _served_record(feed_request=feed_request, items=items)
    return FeedPage(feed_request, feed_request.mode, "ranked", items, next_cursor)


def _served_record(*, feed_request: FeedRequest, items: list[FeedItem]) -> None:
    """What was served, where, with what score: one insert. Kept apart from
    the impression events, which say what a person actually saw."""
    ServedItem.objects.bulk_create(
        [ServedItem(feed_request=feed_request, tweet_id=i.tweet.pk, position=i.position, score=i.score) for i in items]
    )
