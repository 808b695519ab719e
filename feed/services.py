"""Writes on tweets and engagements. Each product action writes its state, its
counter and its engagement event in one transaction, here and only here, so
the event log and the state can never disagree.

Every function takes an optional `at`: the simulator replays days in
simulated time through these same functions.
"""

import re
import unicodedata
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Sum
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from config import telemetry
from config.db import insert_new, insert_once, insert_rows
from feed import counters
from feed.models import Engagement, FeedRequest, Hide, Like, Report, ServedItem, Tweet
from feed.selectors import FeedCursor, timeline_latest, tweets_in_order
from ranking.feeds import (
    DEFAULT_RANKER,
    Assignment,
    RankedPage,
    assignment_for,
    ranked_page,
    served_features,
    tweet_posted,
)
from users.models import Notification, User
from users.selectors import blocked_between
from users.services import notifications_create, notifications_delete, notifications_of_tweet_delete, user_feed_seen


@dataclass(frozen=True)
class Served:
    """Where the viewer saw the tweet they act on, when known."""

    feed_request: FeedRequest | None = None
    position: int | None = None


NOT_SERVED = Served()


@dataclass(frozen=True)
class ClientEvent:
    """A passive event a client observed: an impression, a dwell or a click,
    and when it happened on the client's clock (`at`), when the client says."""

    tweet_id: int
    kind: str
    dwell_ms: int | None = None
    feed_request: FeedRequest | None = None
    position: int | None = None
    at: datetime | None = None
    # The client's own id for it (a UUID): a resent event is stored once.
    id: uuid.UUID | None = None


@dataclass(frozen=True)
class LoggedBatch:
    """What became of a client's batch: `stored` rows were written; the other
    `duplicates` events were stored already (resent under the same id, or an
    impression of an item its feed request had logged already)."""

    stored: int
    duplicates: int


# Characters that show nothing: separators (spaces of every width), control
# and format characters (zero-width space and joiners, word joiner, byte
# order mark, bidirectional marks...). A tweet of only these looks empty.
INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})
# Letters and symbols that draw nothing either, the usual blank-name tricks:
# the Hangul fillers, the blank braille pattern, the variation selectors.
INVISIBLE_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800" + "".join(map(chr, range(0xFE00, 0xFE10))))


def _invisible(char: str) -> bool:
    return unicodedata.category(char) in INVISIBLE_CATEGORIES or char in INVISIBLE_CHARACTERS


def clean_tweet_text(text: str) -> str:
    """The text as stored: line breaks as "\n", stripped, 1..TWEET_MAX_CHARS
    characters, at least one of them visible, and no control character but
    the line break (a terminal would act on them), no unpaired surrogate
    (PostgreSQL cannot store one). ValidationError on `text` otherwise."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise ValidationError({"text": "A tweet needs some text."})
    for char in text:
        category = unicodedata.category(char)
        if (category == "Cc" and char != "\n") or category == "Cs":
            raise ValidationError(
                {"text": f"A tweet cannot hold the control character U+{ord(char):04X}; only line breaks are allowed."}
            )
    if all(_invisible(char) for char in text):
        raise ValidationError(
            {"text": "A tweet needs some visible text: spaces and invisible characters alone are not."}
        )
    if len(text) > settings.TWEET_MAX_CHARS:
        raise ValidationError({"text": f"A tweet has at most {settings.TWEET_MAX_CHARS} characters."})
    return text


def _experiment_tags(assignment: Assignment | None) -> dict:
    if assignment is None:
        return {"experiment_id": None, "variant": ""}
    return {"experiment_id": assignment.experiment_id, "variant": assignment.variant}


def _event(
    *,
    user: User,
    tweet_id: int,
    kind: str,
    feed_request: FeedRequest | None,
    position: int | None,
    experiment: dict,
    **fields,
) -> Engagement:
    # A feed request's model version, experiment and variant are copied onto
    # its events so the metric can be grouped by them without a join; an
    # event from no feed request carries the user's variant now (`experiment`).
    if feed_request is not None:
        experiment = {"experiment_id": feed_request.experiment_id, "variant": feed_request.variant}
    return Engagement(
        user=user,
        tweet_id=tweet_id,
        kind=kind,
        feed_request=feed_request,
        position=position,
        model_version=feed_request.model_version if feed_request else "",
        **experiment,
        **fields,
    )


def _log(*, user: User, tweet: Tweet, kind: str, served: Served, at: datetime, posted: Tweet | None = None) -> None:
    """Append an action's event to the log and count it (feed.counters), with
    the reply it was when `posted`, in the action's transaction."""
    feed_request = served.feed_request
    _event(
        user=user,
        tweet_id=tweet.pk,
        kind=kind,
        feed_request=feed_request,
        position=served.position,
        experiment={} if feed_request else _experiment_tags(assignment_for(user_id=user.pk)),
        created_at=at,
    ).save()
    counters.engagements_counted(
        [counters.CountedEvent(user.pk, tweet.pk, tweet.author_id, kind, None, at)], posted=[posted] if posted else []
    )


# An @mention: a username (letters, digits, underscore, 1 to 30 of them) not
# inside a word or an address, and not running on into one (`@a@b.c`, `@a.b`).
MENTION_RE = re.compile(r"(?<![\w@.])@([A-Za-z0-9_]{1,30})(?![\w@]|\.\w)")


def mentioned_names(text: str) -> set[str]:
    """The usernames `text` mentions, lower-case (usernames are unique
    without regard to case)."""
    return {name.lower() for name in MENTION_RE.findall(text)}


def _mentioned_ids(text: str, *, not_ids: set[int]) -> list[int]:
    """The ids of the active users `text` mentions, found in one query
    whatever their number, less `not_ids`."""
    names = mentioned_names(text)
    if not names:
        return []
    found = User.objects.annotate(lower_name=Lower("username")).filter(lower_name__in=names, is_active=True)
    return list(found.exclude(pk__in=not_ids).values_list("pk", flat=True))


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
    if (
        parent is not None
        and parent.author_id != author.pk
        and blocked_between(user_id=author.pk, other_id=parent.author_id)
    ):
        raise ValidationError({"reply_to": "You cannot reply to this tweet."})
    tweet = Tweet.objects.create(author=author, text=clean_tweet_text(text), reply_to=parent, created_at=at)
    if parent is not None:
        _bump(parent, "reply_count", +1)
        _log(user=author, tweet=parent, kind=Engagement.Kind.REPLY, served=served, at=at, posted=tweet)
        notifications_create(
            actor=author, kind=Notification.Kind.REPLY, recipient_ids=[parent.author_id], tweet_id=tweet.pk, at=at
        )
    else:
        counters.engagements_counted([], posted=[tweet])
    # The replied-to author hears of it once, as a reply.
    mentioned = _mentioned_ids(tweet.text, not_ids={author.pk, parent.author_id if parent else author.pk})
    notifications_create(
        actor=author, kind=Notification.Kind.MENTION, recipient_ids=mentioned, tweet_id=tweet.pk, at=at
    )
    if fanout:
        tweet_posted(tweet_id=tweet.pk, author_id=author.pk)
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
        notifications_delete(actor=by, kind=Notification.Kind.RETWEET, tweet_id=tweet.retweet_of_id)
    if removed:
        notifications_of_tweet_delete(tweet_id=tweet.pk)


def tweet_remove(*, tweet: Tweet) -> None:
    """Moderation: remove any tweet, as its author would delete it."""
    tweet_delete(tweet=tweet, by=tweet.author)


@transaction.atomic
def like_create(*, user: User, tweet: Tweet, served: Served = NOT_SERVED, at: datetime | None = None) -> Tweet:
    """Like a tweet (the original of a retweet). Idempotent, and race-free: of
    concurrent likes one inserts, counts and logs, the others do nothing.
    Returns the liked tweet."""
    at = at or timezone.now()
    original = tweet.original
    if insert_once(Like, user=user, tweet=original, created_at=at):
        _bump(original, "like_count", +1)
        _log(user=user, tweet=original, kind=Engagement.Kind.LIKE, served=served, at=at)
        notifications_create(
            actor=user, kind=Notification.Kind.LIKE, recipient_ids=[original.author_id], tweet_id=original.pk, at=at
        )
    return original


@transaction.atomic
def like_delete(*, user: User, tweet: Tweet) -> Tweet:
    """Take a like back. Idempotent: the delete's row count decides who
    counts it, so concurrent undos take the count down once. Returns the
    tweet that was liked."""
    original = tweet.original
    removed, _ = Like.objects.filter(user=user, tweet=original).delete()
    if removed:
        _bump(original, "like_count", -1)
        notifications_delete(actor=user, kind=Notification.Kind.LIKE, tweet_id=original.pk)
    return original


@transaction.atomic
def retweet_create(
    *, user: User, tweet: Tweet, served: Served = NOT_SERVED, at: datetime | None = None, fanout: bool = True
) -> Tweet:
    """Retweet the original of `tweet`. Idempotent. Returns the retweet."""
    at = at or timezone.now()
    original = tweet.original
    # Lock the original so two concurrent retweets by one user cannot both pass
    # the existence check (the partial unique index would reject the second);
    # no key lock, so others' events on it still pass their foreign-key checks.
    Tweet.objects.select_for_update(no_key=True).filter(pk=original.pk).first()
    existing = Tweet.objects.filter(author=user, retweet_of=original, deleted_at__isnull=True).first()
    if existing:
        return existing
    retweet = Tweet.objects.create(author=user, retweet_of=original, created_at=at)
    _bump(original, "retweet_count", +1)
    _log(user=user, tweet=original, kind=Engagement.Kind.RETWEET, served=served, at=at)
    notifications_create(
        actor=user, kind=Notification.Kind.RETWEET, recipient_ids=[original.author_id], tweet_id=original.pk, at=at
    )
    if fanout:
        tweet_posted(tweet_id=retweet.pk, author_id=user.pk, is_retweet=True)
    return retweet


def retweet_delete(*, user: User, tweet: Tweet) -> Tweet:
    """Undo `user`'s retweet of the original of `tweet`. Idempotent. Returns the original."""
    original = tweet.original
    for retweet in Tweet.objects.filter(author=user, retweet_of=original, deleted_at__isnull=True):
        tweet_delete(tweet=retweet, by=user)
    return original


@transaction.atomic
def hide_create(*, user: User, tweet: Tweet, served: Served = NOT_SERVED, at: datetime | None = None) -> Tweet:
    """Hide a tweet (and with it every retweet of it) from `user`'s feeds.
    Idempotent and race-free (one hide event)."""
    at = at or timezone.now()
    original = tweet.original
    if insert_once(Hide, user=user, tweet=original, created_at=at):
        _log(user=user, tweet=original, kind=Engagement.Kind.HIDE, served=served, at=at)
    return original


@transaction.atomic
def report_create(
    *, user: User, tweet: Tweet, reason: str, served: Served = NOT_SERVED, at: datetime | None = None
) -> Report:
    """Report a tweet to the moderators; it also leaves the reporter's feeds.
    Idempotent and race-free: one report (and report event) per user and
    tweet; a repeat returns the first."""
    at = at or timezone.now()
    original = tweet.original
    if original.author_id == user.pk:
        raise ValidationError({"tweet": "You cannot report your own tweet."})
    if reason not in Report.Reason.values:
        raise ValidationError({"reason": f"Choose one of: {', '.join(Report.Reason.values)}."})
    report = insert_once(Report, user=user, tweet=original, reason=reason, created_at=at)
    if report is None:  # reports are never deleted: the first one is there
        return Report.objects.get(user=user, tweet=original)
    _log(user=user, tweet=original, kind=Engagement.Kind.REPORT, served=served, at=at)
    return report


def reports_resolve(*, reports) -> int:
    """Moderation: mark reports handled. Returns how many changed."""
    return reports.filter(resolved=False).update(resolved=True)


def feed_request_create(
    *,
    user: User,
    mode: str,
    model_version: str = "",
    assignment: Assignment | None = None,
    at: datetime | None = None,
    built_at: datetime | None = None,
) -> FeedRequest:
    """Record one feed load; its id tags every event logged from it, with
    the experiment and variant of the viewer's `assignment` (the exposure
    the experiment's readout counts). `built_at`: when the ranked list it
    serves was built."""
    return FeedRequest.objects.create(
        id=uuid.uuid4(),
        user=user,
        mode=mode,
        model_version=model_version,
        created_at=at or timezone.now(),
        built_at=built_at,
        **_experiment_tags(assignment),
    )


def client_event_time(*, event: ClientEvent, clock_offset: timedelta, now: datetime) -> datetime:
    """When a client's event happened, on the server's clock.

    With a time (`event.at`), that time moved by `clock_offset` (the server's
    clock minus the client's, measured on the batch: see engagements_log).
    Without one, the time of the feed request that served the item: it was
    seen after that, and an action on it after that still counts; with no
    feed request either, the time it arrived.

    Raises ValidationError when the time is older than ENGAGEMENT_MAX_AGE_S,
    later than now, or before the feed request that served the item (each
    beyond ENGAGEMENT_CLOCK_SKEW_S; within it, the time moves onto the bound)."""
    if event.at is None:
        return event.feed_request.created_at if event.feed_request else now
    at = event.at + clock_offset
    skew = timedelta(seconds=settings.ENGAGEMENT_CLOCK_SKEW_S)
    if at > now + skew:
        raise ValidationError(f"`at` is {(at - now).total_seconds():.0f} s in the future (send `sent_at` beside it).")
    if at < now - timedelta(seconds=settings.ENGAGEMENT_MAX_AGE_S):
        raise ValidationError(f"`at` is older than {settings.ENGAGEMENT_MAX_AGE_S} s: the event is refused.")
    served_at = event.feed_request.created_at if event.feed_request else None
    if served_at is not None and at < served_at - skew:
        raise ValidationError("`at` is before the feed request that served the item.")
    happened = min(at, now)
    return max(happened, served_at) if served_at is not None else happened


@transaction.atomic
def engagements_log(
    *, user: User, events: list[ClientEvent], sent_at: datetime | None = None, at: datetime | None = None
) -> LoggedBatch:
    """Append a client's batch of passive events, each at the time it happened
    (client_event_time), whenever the batch arrives: a client may send its
    impressions after the likes they led to. `sent_at` is the client's clock
    when it sent the batch; the difference to the server's clock now (`at`)
    corrects every event's time, so a client's wrong clock does not matter.
    The caller has validated the events' fields (see
    feed.api.EngagementBatchSerializer).

    An event naming a feed request names a tweet it served, at the position
    it served it (an event without a position takes that one); a feed
    request's dwells add up to no more than the time since it was served
    allows (_dwell_within_time). All or nothing: a broken rule raises
    ValidationError naming the event, and nothing is written.

    Safe to resend: an event whose client id is stored already, or an
    impression of an item its feed request has one of already, is counted as
    a duplicate and not written again, concurrent resends included. What was
    written is counted (feed.counters) in the same transaction. A constant
    number of queries, whatever the batch."""
    now = at or timezone.now()
    clock_offset = now - sent_at if sent_at else timedelta(0)
    events, errors = _served_checked(events)
    times = []
    for index, event in enumerate(events):
        try:
            times.append(client_event_time(event=event, clock_offset=clock_offset, now=now))
        except ValidationError as exc:
            errors.extend(f"Event {index}: {message}" for message in exc.messages)
    if errors:
        raise ValidationError({"events": errors})
    _dwell_within_time(user=user, events=events, now=now)
    times = _before_actions(user=user, events=events, times=times)
    unserved = any(event.feed_request is None for event in events)
    experiment = _experiment_tags(assignment_for(user_id=user.pk)) if unserved else {}
    rows = [
        _event(
            user=user,
            tweet_id=event.tweet_id,
            kind=event.kind,
            feed_request=event.feed_request,
            position=event.position,
            experiment=experiment,
            dwell_ms=event.dwell_ms,
            client_event_id=event.id,
            created_at=happened,
            received_at=now,
        )
        for event, happened in zip(events, times, strict=True)
    ]
    stored = insert_new(rows)
    counters.engagements_counted_by_id(stored)
    return LoggedBatch(stored=len(stored), duplicates=len(rows) - len(stored))


def _served_checked(events: list[ClientEvent]) -> tuple[list[ClientEvent], list[str]]:
    """Each event that names a feed request must name a tweet that request
    served (either as itself or as a retweet: events land on the original),
    at the position it was served at when the event gives one; without one,
    it takes that position (the first, if served twice). Returns the events
    with their positions, and an error per event that breaks the rule. One
    query."""
    named = [event for event in events if event.feed_request is not None]
    if not named:
        return events, []
    served = defaultdict(set)  # (feed request id, original tweet id) -> positions
    rows = (
        ServedItem.objects.filter(feed_request_id__in={event.feed_request.pk for event in named})
        .annotate(original=Coalesce("tweet__retweet_of_id", "tweet_id"))
        .filter(original__in={event.tweet_id for event in named})
        .values_list("feed_request_id", "original", "position")
    )
    for request_id, original, position in rows:
        served[request_id, original].add(position)
    checked, errors = [], []
    for index, event in enumerate(events):
        if event.feed_request is not None:
            positions = served.get((event.feed_request.pk, event.tweet_id))
            if not positions:
                errors.append(
                    f"Event {index}: feed request {event.feed_request.pk} did not serve tweet {event.tweet_id}."
                )
            elif event.position is None:
                event = replace(event, position=min(positions))
            elif event.position not in positions:
                where = ", ".join(str(position) for position in sorted(positions))
                errors.append(
                    f"Event {index}: feed request {event.feed_request.pk} served tweet {event.tweet_id} "
                    f"at position {where}, not {event.position}."
                )
        checked.append(event)
    return checked, errors


def _dwell_within_time(*, user: User, events: list[ClientEvent], now: datetime) -> None:
    """A feed request's dwells add up to at most the time since it was served
    (plus ENGAGEMENT_CLOCK_SKEW_S) times ENGAGEMENT_DWELL_CARDS_IN_VIEW: each
    card's dwell runs while it is at least half visible, so several run at
    once, but no more than a screen holds. Events already stored (resent
    under their id) count once. The feed requests are locked first, so two
    batches at once cannot both spend the same room. Three queries."""
    dwells = [
        (index, event)
        for index, event in enumerate(events)
        if event.kind == Engagement.Kind.DWELL and event.feed_request is not None
    ]
    if not dwells:
        return
    request_ids = sorted({event.feed_request.pk for _, event in dwells})
    # Locked in one order, so two batches never wait on each other in a cycle;
    # FOR NO KEY UPDATE, so an action's event that names one of these feed
    # requests can still take its foreign-key check's key-share lock at commit
    # (FOR UPDATE would make that action wait here while this batch waits for
    # the counter rows the action holds: a deadlock).
    list(FeedRequest.objects.select_for_update(no_key=True).filter(pk__in=request_ids).order_by("pk").values_list("pk"))
    client_ids = {event.id for _, event in dwells if event.id is not None}
    counted = set(
        Engagement.objects.filter(user=user, client_event_id__in=client_ids).values_list("client_event_id", flat=True)
    )
    totals_ms = dict(
        Engagement.objects.filter(feed_request_id__in=request_ids, kind=Engagement.Kind.DWELL)
        .values("feed_request")
        .annotate(total=Sum("dwell_ms"))
        .values_list("feed_request", "total")
    )
    skew_s = settings.ENGAGEMENT_CLOCK_SKEW_S
    cards = settings.ENGAGEMENT_DWELL_CARDS_IN_VIEW
    errors, over = [], set()
    for index, event in dwells:
        if event.id is not None:
            if event.id in counted:
                continue
            counted.add(event.id)
        feed_request = event.feed_request
        total_ms = totals_ms[feed_request.pk] = totals_ms.get(feed_request.pk, 0) + event.dwell_ms
        since_s = max((now - feed_request.created_at).total_seconds(), 0)
        allowed_s = cards * (since_s + skew_s)
        if total_ms > allowed_s * 1000 and feed_request.pk not in over:
            over.add(feed_request.pk)
            errors.append(
                f"Event {index}: the dwells in feed request {feed_request.pk} would add up to "
                f"{total_ms / 1000:.0f} s, more than the {allowed_s:.0f} s that {cards} cards in view "
                f"could have had in the {since_s:.0f} s since it was served."
            )
    if errors:
        raise ValidationError({"events": errors})


# What a person does to a tweet after seeing it.
ACTION_KINDS = (
    Engagement.Kind.LIKE,
    Engagement.Kind.REPLY,
    Engagement.Kind.RETWEET,
    Engagement.Kind.HIDE,
    Engagement.Kind.REPORT,
)


def _before_actions(*, user: User, events: list[ClientEvent], times: list[datetime]) -> list[datetime]:
    """An impression comes before what its viewer then did to the tweet. A
    client's time, moved by the batch's clock offset, carries the batch's
    trip to the server, so an impression may land a few milliseconds after a
    like that came right after it; it moves to a millisecond before the first
    such action (training counts whole milliseconds). "After it" means after
    the feed request that served it, or within the clock skew without one.
    One query per batch."""
    skew = timedelta(seconds=settings.ENGAGEMENT_CLOCK_SKEW_S)
    since = {
        i: event.feed_request.created_at if event.feed_request else times[i] - skew
        for i, event in enumerate(events)
        if event.kind == Engagement.Kind.IMPRESSION
    }
    if not since:
        return times
    actions = defaultdict(list)
    for tweet_id, acted in Engagement.objects.filter(
        user=user,
        tweet_id__in={events[i].tweet_id for i in since},
        kind__in=ACTION_KINDS,
        created_at__gte=min(since.values()),
    ).values_list("tweet_id", "created_at"):
        actions[tweet_id].append(acted)
    times = list(times)
    for i, start in since.items():
        first = min((acted for acted in actions[events[i].tweet_id] if acted >= start), default=None)
        if first is not None and times[i] >= first:
            times[i] = max(first - timedelta(milliseconds=1), start)
    return times


@dataclass(frozen=True)
class FeedItem:
    tweet: Tweet
    position: int
    score: float | None = None
    reasons: tuple[str, ...] = ()
    team: str = ""  # in an interleaved list, the variant whose ranker picked it


@dataclass(frozen=True)
class FeedPage:
    """One page of a home feed, ready to render: the API and the pages both use it.
    `ranking` says what ordered it: "ranked", "pending" (no ranked list yet:
    the latest timeline, while one is built) or "off" (the latest timeline:
    asked for, or the viewer's experiment variant serves it, or ranking is
    unavailable: no model can rank, or the broker or Redis is down).
    `caught_up`: a ranked list served to its end, nothing left to show.
    `experiment` and `variant`: the viewer's, when they are in one."""

    feed_request: FeedRequest
    mode: str
    ranking: str
    items: list[FeedItem]
    next_cursor: str | None
    caught_up: bool = False
    experiment: str | None = None
    variant: str | None = None


FEED_MODES = (FeedRequest.Mode.LATEST, FeedRequest.Mode.RANKED)


@telemetry.observes_feed_served
def feed_read(
    *, viewer: User, mode: str, cursor: str | None = None, limit: int | None = None, at: datetime | None = None
) -> FeedPage:
    """A page of `viewer`'s home feed, `limit` items long (FEED_PAGE_SIZE by
    default). The first page opens a feed request; the cursor carries it, so a
    scroll is one request with rising positions. `ranked` reads the list a
    feeds worker stored (a stale one too, while a rebuild is asked for), and
    a scroll reads on from the version of the list it began on; with no list
    at all it asks for a build and serves the latest timeline meanwhile,
    never waiting on the model.

    A viewer in a running experiment gets their variant's ranking instead
    of the default one (the latest timeline for a "latest" variant), and
    the feed request records the experiment and variant: its events carry
    them, and the experiment's readout counts the viewer as exposed."""
    if mode not in FEED_MODES:
        raise ValidationError({"mode": f"Choose one of: {', '.join(FEED_MODES)}."})
    limit = limit or settings.FEED_PAGE_SIZE
    if not 1 <= limit <= settings.FEED_PAGE_SIZE_MAX:
        raise ValidationError({"limit": f"Ask for 1 to {settings.FEED_PAGE_SIZE_MAX} items."})
    after = FeedCursor.decode(cursor) if cursor else None
    # For fan-out: who read lately (one write per LAST_FEED_AT_STEP_S at most).
    user_feed_seen(user=viewer, at=at)
    feed_request = assignment = None
    if after is not None:
        feed_request = (
            FeedRequest.objects.select_related("experiment").filter(pk=after.feed_request_id, user=viewer).first()
        )
        if feed_request is None:
            raise ValidationError({"cursor": "Invalid cursor."})
    else:
        assignment = assignment_for(user_id=viewer.pk)
    start = after.position if after else 0
    tags = _page_tags(feed_request, assignment)

    ranking = "off"
    if mode == FeedRequest.Mode.RANKED:
        ranking = "pending"
        # A scroll stays on what it began on: the latest timeline, or the
        # version of the ranked list it read first.
        ranked = feed_request is None or feed_request.mode == FeedRequest.Mode.RANKED
        if assignment is not None and not assignment.ranks:
            ranked, ranking = False, "off"
        if ranked:
            version = after.list_version if after else None
            arm, rankers = (assignment.key, assignment.model_rankers) if assignment else ("", (DEFAULT_RANKER,))
            page = ranked_page(
                user_id=viewer.pk, offset=start, limit=limit, version=version, at=at, arm=arm, rankers=rankers
            )
            if isinstance(page, RankedPage):
                return _ranked_feed_page(
                    viewer=viewer, page=page, feed_request=feed_request, assignment=assignment, start=start, at=at
                )
            ranking = page.ranking

    # The feed request and its served items in one transaction: one commit
    # (one WAL flush) a page instead of two; no savepoint (two more round trips).
    with transaction.atomic(savepoint=False):
        feed_request = feed_request or feed_request_create(
            user=viewer, mode=FeedRequest.Mode.LATEST, assignment=assignment, at=at
        )
        tweets = timeline_latest(viewer=viewer, before=after, limit=limit + 1)
        more, tweets = len(tweets) > limit, tweets[:limit]
        next_cursor = None
        if more:
            last = tweets[-1]
            next_cursor = FeedCursor(feed_request.pk, start + limit, last.created_at, last.pk).encode()
        items = [FeedItem(tweet, start + offset) for offset, tweet in enumerate(tweets)]
        served_record(feed_request=feed_request, items=items)
    return FeedPage(feed_request, feed_request.mode, ranking, items, next_cursor, **tags)


def _page_tags(feed_request: FeedRequest | None, assignment: Assignment | None) -> dict:
    """The experiment and variant a page reports: its scroll's, else the viewer's now."""
    if feed_request is not None:
        if feed_request.experiment is None:
            return {}
        return {"experiment": feed_request.experiment.name, "variant": feed_request.variant}
    if assignment is None:
        return {}
    return {"experiment": assignment.experiment, "variant": assignment.variant}


# The feed request and its served items: one commit (one WAL flush) a page, not two. No savepoint:
# nothing inside is retried on its own (and a savepoint costs two more round trips).
@transaction.atomic(savepoint=False)
def _ranked_feed_page(
    *, viewer, page: RankedPage, feed_request, assignment: Assignment | None, start: int, at
) -> FeedPage:
    tags = _page_tags(feed_request, assignment)
    feed_request = feed_request or feed_request_create(
        user=viewer,
        mode=FeedRequest.Mode.RANKED,
        model_version=page.model_version,
        assignment=assignment,
        at=at,
        built_at=page.built_at,
    )
    ranked = {item.tweet_id: (start + offset, item) for offset, item in enumerate(page.items)}
    items = []
    for tweet in tweets_in_order(viewer=viewer, tweet_ids=list(ranked)):
        position, item = ranked[tweet.pk]
        items.append(FeedItem(tweet, position, item.score, item.reasons, item.team))
    next_cursor = None
    if page.has_more:
        next_cursor = FeedCursor(feed_request.pk, start + len(page.items), list_version=page.version).encode()
    features = {}
    # A scroll that outlived its list (the version it began on expired, and a
    # newer build is read on) serves another build's rows: they are not as
    # of its request's built_at, so none are kept.
    if feed_request.built_at == page.built_at:
        features = served_features(user_id=viewer.pk, page=page, tweet_ids=[i.tweet.pk for i in items])
    served_record(feed_request=feed_request, items=items, features=features, feature_spec=page.feature_spec)
    return FeedPage(feed_request, feed_request.mode, "ranked", items, next_cursor, caught_up=not page.has_more, **tags)


def served_record(
    *, feed_request: FeedRequest, items: list[FeedItem], features: dict | None = None, feature_spec: str = ""
) -> None:
    """What was served, where, with what score and, for ranked items, the
    feature row it was scored with (`features`: tweet id -> floats): one
    insert. Kept apart from the impression events, which say what a person
    actually saw."""
    features = features or {}
    insert_rows(
        ServedItem,
        ["feed_request", "tweet", "position", "score", "features", "feature_spec", "team"],
        [
            (
                feed_request.pk,
                i.tweet.pk,
                i.position,
                i.score,
                features.get(i.tweet.pk),
                feature_spec if i.tweet.pk in features else "",
                i.team,
            )
            for i in items
        ],
    )
