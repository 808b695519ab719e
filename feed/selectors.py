"""Reads on tweets. Every list is one query whatever it holds: authors,
originals and the viewer's state come with the tweets."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from feed.models import Hide, Like, Report, Tweet
from users.models import Block, Follow, Mute, MutedWord, User
from users.selectors import WORD_AFTER, WORD_BEFORE, blocked_q, muted_text_q, silenced_q

# Where a scroll may reach: further than anyone reads, and far inside the
# served items' position column (a PostgreSQL integer, below 2**31).
CURSOR_POSITION_MAX = 1_000_000
CURSOR_LIST_VERSION_MAX_CHARS = 100
CURSOR_SALT = "feed.cursor"
BIGINT_MAX = 2**63 - 1


@dataclass(frozen=True)
class FeedCursor:
    """Where a feed page ends: the feed request the pages belong to, the
    position the next page starts at and, for the latest timeline, the keyset
    (created_at, id) of the last tweet shown; for a ranked feed, the version
    of the stored list the scroll reads.

    Signed (django.core.signing, with SECRET_KEY): a client cannot make one
    up, so a position or time the server never wrote never reaches a query.
    Decoding still checks every field's type and bounds."""

    feed_request_id: uuid.UUID
    position: int
    created_at: datetime | None = None
    tweet_id: int | None = None
    list_version: str | None = None

    def encode(self) -> str:
        created_at = self.created_at.isoformat() if self.created_at else None
        payload = [str(self.feed_request_id), self.position, created_at, self.tweet_id, self.list_version]
        return signing.dumps(payload, salt=CURSOR_SALT, compress=True)

    @classmethod
    def decode(cls, token: str) -> "FeedCursor":
        """The cursor `token` names; ValidationError ("Invalid cursor.") for
        anything this server did not sign or whose fields are out of bounds."""
        try:
            feed_request_id, position, created_at, tweet_id, list_version = signing.loads(token, salt=CURSOR_SALT)
            if not all(isinstance(n, int) and not isinstance(n, bool) for n in (position, tweet_id or 0)):
                raise TypeError("position and tweet id are integers")
            cursor = cls(
                uuid.UUID(feed_request_id),
                position,
                _utc(created_at) if created_at is not None else None,
                tweet_id,
                str(list_version) if list_version is not None else None,
            )
        except (signing.BadSignature, ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise ValidationError({"cursor": "Invalid cursor."}) from exc
        if not (
            0 <= cursor.position <= CURSOR_POSITION_MAX
            and (cursor.tweet_id is None or 1 <= cursor.tweet_id <= BIGINT_MAX)
            and len(cursor.list_version or "") <= CURSOR_LIST_VERSION_MAX_CHARS
        ):
            raise ValidationError({"cursor": "Invalid cursor."})
        return cursor


def _utc(text: str) -> datetime:
    """An ISO 8601 time in UTC, as the server writes them (the stored times
    are UTC). Any other offset is refused: PostgreSQL would refuse one past
    15:59 in the query."""
    when = datetime.fromisoformat(text)
    if when.utcoffset() != timedelta(0):
        raise ValueError("a cursor's time is in UTC")
    return when.astimezone(UTC)


# The id actions land on, for the tweet of the outer query: its original's.
ORIGINAL_ID = Coalesce(OuterRef("retweet_of_id"), OuterRef("pk"))
# Whom the outer query's tweet (or, for a retweet, its original: a retweet
# is no reply) answers. A subquery, run for the rows returned only: the two
# joins more it would take (the parent, its author; twice, for retweets)
# made PostgreSQL plan the latest timeline's query ten times longer
# (EXPLAIN on 400,000 tweets: ~1 ms to ~9 ms), the subquery ~0.2 ms.
REPLYING_TO = Subquery(
    Tweet.objects.filter(pk=Coalesce(OuterRef("retweet_of__reply_to_id"), OuterRef("reply_to_id"))).values(
        "author__username"
    )[:1]
)


def tweets_hydrated(*, viewer: User | None = None) -> QuerySet[Tweet]:
    """Visible tweets with everything a tweet card shows, in one query: the
    author, the original of a retweet, the username of whom a reply (or a
    retweeted reply) answers (`replying_to`: "Replying to @name"), and
    whether `viewer` liked or retweeted what actions act on (the original)."""
    tweets = Tweet.objects.visible().select_related("author", "retweet_of__author").annotate(replying_to=REPLYING_TO)
    if viewer is None or not viewer.is_authenticated:
        return tweets
    # Someone who blocked the viewer is not seen by them, nor their tweets
    # retweeted: subqueries of this one query, not queries of their own.
    tweets = tweets.exclude(blocked_q(viewer, "author_id")).exclude(blocked_q(viewer, "retweet_of__author_id"))
    return tweets.annotate(
        liked=Exists(Like.objects.filter(user=viewer, tweet_id=ORIGINAL_ID)),
        retweeted=Exists(Tweet.objects.filter(author=viewer, retweet_of_id=ORIGINAL_ID, deleted_at__isnull=True)),
    )


def tweets_removed_by(viewer: User) -> Q:
    """What the viewer hid or reported, and every retweet of it (hides and
    reports are stored on originals): a condition to exclude from feeds."""
    return Q(Exists(Hide.objects.filter(user=viewer, tweet_id=ORIGINAL_ID))) | tweets_reported_by(viewer)


def tweets_reported_by(viewer: User) -> Q:
    """What the viewer reported, and every retweet of it: a condition to
    exclude wherever they browse (a hide only asks the feeds for less)."""
    return Q(Exists(Report.objects.filter(user=viewer, tweet_id=ORIGINAL_ID)))


def tweets_silenced_for(viewer: User) -> Q:
    """What the viewer's feeds leave out for their mutes and blocks: tweets
    and retweets by people they muted or blocked or who blocked them,
    retweets of those people's tweets, and tweets (or retweets of tweets)
    holding a word they muted. A condition to exclude; no query of its own."""
    return (
        silenced_q(viewer, "author_id")
        | silenced_q(viewer, "retweet_of__author_id")
        | muted_text_q(viewer, "text")
        | muted_text_q(viewer, "retweet_of__text")
    )


def tweets_in_order(*, viewer: User, tweet_ids: list[int]) -> list[Tweet]:
    """These tweets, hydrated, in this order, leaving out any deleted,
    removed by the viewer or silenced for them (a mute, a block, a muted
    word: tweets_silenced_for) since the list was made: one query."""
    if connection.vendor == "postgresql" and tweet_ids:
        found = _tweets_hydrated_by_hand(viewer=viewer, tweet_ids=tweet_ids)
    else:
        found = (
            tweets_hydrated(viewer=viewer)
            .exclude(tweets_removed_by(viewer))
            .exclude(tweets_silenced_for(viewer))
            .in_bulk(tweet_ids)
        )
    return [found[pk] for pk in tweet_ids if pk in found]


def _columns(model, alias: str) -> tuple[list[str], str]:
    fields = [field.attname for field in model._meta.concrete_fields]
    columns = [f'{alias}."{field.column}"' for field in model._meta.concrete_fields]
    return fields, ", ".join(columns)


# The ranked page's hydration, written out by hand: the same rows and
# instances as the ORM's `tweets_hydrated().exclude(tweets_removed_by())`
# (a test holds them equal), without building and compiling that query on
# every read, which cost more than PostgreSQL took to answer it (README,
# "Serving benchmark"). Columns come from the models' metadata, so a new
# field is read without touching this.
_TWEET_FIELDS, _TWEET_COLUMNS = _columns(Tweet, "t")
_USER_FIELDS, _USER_COLUMNS = _columns(User, "a")
_, _ORIGINAL_COLUMNS = _columns(Tweet, "o")
_, _ORIGINAL_AUTHOR_COLUMNS = _columns(User, "oa")
_HYDRATE_SQL = f"""
    SELECT {_TWEET_COLUMNS}, {_USER_COLUMNS}, {_ORIGINAL_COLUMNS}, {_ORIGINAL_AUTHOR_COLUMNS},
        (SELECT pa.username FROM {Tweet._meta.db_table} p JOIN {User._meta.db_table} pa ON pa.id = p.author_id
         WHERE p.id = COALESCE(o.reply_to_id, t.reply_to_id)),
        EXISTS (SELECT 1 FROM {Like._meta.db_table} l
                WHERE l.user_id = %(viewer)s AND l.tweet_id = COALESCE(t.retweet_of_id, t.id)),
        EXISTS (SELECT 1 FROM {Tweet._meta.db_table} r
                WHERE r.author_id = %(viewer)s AND r.retweet_of_id = COALESCE(t.retweet_of_id, t.id)
                AND r.deleted_at IS NULL)
    FROM {Tweet._meta.db_table} t
    JOIN {User._meta.db_table} a ON a.id = t.author_id
    LEFT JOIN {Tweet._meta.db_table} o ON o.id = t.retweet_of_id
    LEFT JOIN {User._meta.db_table} oa ON oa.id = o.author_id
    WHERE t.id = ANY(%(ids)s::bigint[]) AND t.deleted_at IS NULL AND o.deleted_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM {Hide._meta.db_table} h
                        WHERE h.user_id = %(viewer)s AND h.tweet_id = COALESCE(t.retweet_of_id, t.id))
        AND NOT EXISTS (SELECT 1 FROM {Report._meta.db_table} p
                        WHERE p.user_id = %(viewer)s AND p.tweet_id = COALESCE(t.retweet_of_id, t.id))
        -- tweets_silenced_for: by (or retweeting) someone muted, blocked or blocking; a muted word.
        AND NOT EXISTS (SELECT 1 FROM {Mute._meta.db_table} m
                        WHERE m.user_id = %(viewer)s AND m.muted_id IN (t.author_id, o.author_id))
        AND NOT EXISTS (SELECT 1 FROM {Block._meta.db_table} b
                        WHERE b.user_id = %(viewer)s AND b.blocked_id IN (t.author_id, o.author_id))
        AND NOT EXISTS (SELECT 1 FROM {Block._meta.db_table} b
                        WHERE b.blocked_id = %(viewer)s AND b.user_id IN (t.author_id, o.author_id))
        AND NOT EXISTS (SELECT 1 FROM {MutedWord._meta.db_table} w
                        WHERE w.user_id = %(viewer)s
                          AND (t.text ~* (%(before)s || w.word || %(after)s)
                               OR o.text ~* (%(before)s || w.word || %(after)s)))
"""  # noqa: S608  # nosec B608: identifiers from the models' metadata; every value is a parameter


def _tweets_hydrated_by_hand(*, viewer: User, tweet_ids: list[int]) -> dict[int, Tweet]:
    db = connection.alias
    tweet_width, user_width = len(_TWEET_FIELDS), len(_USER_FIELDS)
    found = {}
    with connection.cursor() as cursor:
        cursor.execute(
            _HYDRATE_SQL, {"viewer": viewer.pk, "ids": list(tweet_ids), "before": WORD_BEFORE, "after": WORD_AFTER}
        )
        for row in cursor.fetchall():
            tweet = Tweet.from_db(db, _TWEET_FIELDS, row[:tweet_width])
            tweet.author = User.from_db(db, _USER_FIELDS, row[tweet_width : tweet_width + user_width])
            at = tweet_width + user_width
            if tweet.retweet_of_id is not None:
                original = Tweet.from_db(db, _TWEET_FIELDS, row[at : at + tweet_width])
                original.author = User.from_db(db, _USER_FIELDS, row[at + tweet_width : at + tweet_width + user_width])
                tweet.retweet_of = original
            else:
                tweet.retweet_of = None
            tweet.replying_to, tweet.liked, tweet.retweeted = row[-3:]
            found[tweet.pk] = tweet
    return found


def timeline_latest(
    *, viewer: User, before: FeedCursor | None, limit: int, as_of: datetime | None = None
) -> list[Tweet]:
    """The reverse-chronological home timeline: tweets and retweets by the
    viewer's followees and the viewer, newest first, never what the viewer
    hid or reported (nor retweets of it), nor what their mutes and blocks
    silence (tweets_silenced_for).

    One card per original: a tweet shows only at its newest appearance in
    the timeline (its latest retweet by someone in it), so a page never
    shows it twice and, since the rule holds for the whole timeline and not
    one page, neither do two pages read on with the cursor. A retweet
    carries who else in the timeline retweeted it before
    (`also_retweeted_by`: the latest of them, not the viewer, whose own
    retweet `retweeted` says; `also_retweeted_count`: how many), for
    "alice and bob retweeted" without a query more.

    `as_of`: the timeline as it stood then (strictly before it), for a
    feed build: a retweet made since does not move a tweet out of it."""
    # Ids first, then `author IN (ids)`: the planner walks each author's
    # timeline index instead of scanning every tweet (an OR with a subquery
    # defeats that). Muted and blocked followees are left out of the ids already.
    followees = Follow.objects.filter(follower=viewer).exclude(silenced_q(viewer, "followee_id"))
    authors = [*followees.values_list("followee_id", flat=True), viewer.pk]
    # An original is older than its retweets: only a retweet can be a newer appearance.
    appearances = Tweet.objects.filter(retweet_of_id=ORIGINAL_ID, author__in=authors, deleted_at__isnull=True)
    if as_of is not None:
        appearances = appearances.filter(created_at__lt=as_of)
    newer = Q(created_at__gt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), pk__gt=OuterRef("pk"))
    older_others = (
        Tweet.objects.filter(retweet_of_id=OuterRef("retweet_of_id"), author__in=authors, deleted_at__isnull=True)
        .filter(Q(created_at__lt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), pk__lt=OuterRef("pk")))
        .exclude(author=viewer)
    )
    tweets = (
        tweets_hydrated(viewer=viewer)
        .filter(author__in=authors)
        .exclude(tweets_removed_by(viewer))
        .exclude(tweets_silenced_for(viewer))
        .exclude(Exists(appearances.filter(newer)))
        .annotate(
            also_retweeted_by=Subquery(older_others.order_by("-created_at", "-pk").values("author__username")[:1]),
            also_retweeted_count=Coalesce(
                Subquery(
                    older_others.order_by().values("retweet_of_id").annotate(n=Count("pk")).values("n"),
                    output_field=IntegerField(),
                ),
                0,
            ),
        )
    )
    if before is not None and before.created_at is not None:
        tweets = tweets.filter(
            Q(created_at__lt=before.created_at) | Q(created_at=before.created_at, pk__lt=before.tweet_id)
        )
    if as_of is not None:
        tweets = tweets.filter(created_at__lt=as_of)
    return list(tweets.order_by("-created_at", "-pk")[:limit])


def unsilenced(tweets: QuerySet[Tweet], viewer: User | None) -> QuerySet[Tweet]:
    """`tweets` without what the viewer's mutes and blocks leave out
    (`tweets_silenced_for`) and what they reported; all of them for a visitor."""
    if viewer is None or not viewer.is_authenticated:
        return tweets
    return tweets.exclude(tweets_silenced_for(viewer) | tweets_reported_by(viewer))


def tweet_replies(*, viewer: User, tweet: Tweet) -> QuerySet[Tweet]:
    """The replies to `tweet` (its conversation below it), hydrated,
    unordered; none by people the viewer silenced, none with a muted word."""
    return unsilenced(tweets_hydrated(viewer=viewer).filter(reply_to=tweet), viewer)


def replies_before(*, viewer: User, reply: Tweet) -> int:
    """How many of the replies the viewer is shown under `reply`'s parent
    come before it, in the tweet page's order (oldest first): where the
    page lists it. One count on the parent's replies."""
    replies = Tweet.objects.visible().filter(reply_to_id=reply.reply_to_id)
    return (
        unsilenced(replies, viewer)
        .filter(Q(created_at__lt=reply.created_at) | Q(created_at=reply.created_at, pk__lt=reply.pk))
        .count()
    )


def tweets_by(*, viewer: User, author: User) -> QuerySet[Tweet]:
    """`author`'s tweets, retweets and replies, hydrated, unordered."""
    return tweets_hydrated(viewer=viewer).filter(author=author)


# Deep enough for any conversation a person reads; a longer chain shows its
# latest parents and links to the earliest one shown.
ANCESTORS_MAX = 50


def tweet_ancestors(*, viewer: User, tweet: Tweet) -> list[Tweet]:
    """The tweets `tweet` replies to, the root first, hydrated: two queries
    whatever the depth (one recursive walk up the chain, one hydration)."""
    if tweet.reply_to_id is None:
        return []
    walk = """
        WITH RECURSIVE chain (id, reply_to_id, depth) AS (
            SELECT id, reply_to_id, 1 FROM feed_tweet WHERE id = %s
            UNION ALL
            SELECT parent.id, parent.reply_to_id, chain.depth + 1
            FROM feed_tweet parent JOIN chain ON parent.id = chain.reply_to_id
            WHERE chain.depth < %s
        )
        SELECT id FROM chain ORDER BY depth DESC
    """
    with connection.cursor() as cursor:
        cursor.execute(walk, [tweet.reply_to_id, ANCESTORS_MAX])
        ids = [row[0] for row in cursor.fetchall()]
    found = tweets_hydrated(viewer=viewer).in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


def tweets_tagged(*, viewer: User, tag: str) -> QuerySet[Tweet]:
    """Tweets with #tag (any case), newest first, without what the viewer
    silenced. `tag` is word characters only. A scan of the text: fine at
    this size, a tag table beyond it."""
    tagged = tweets_hydrated(viewer=viewer).filter(text__iregex=rf"#{tag}(\W|$)")
    return unsilenced(tagged, viewer).order_by("-created_at", "-pk")


# The text search configuration of the GIN index on tweets (feed.0009):
# the query must use the same one for PostgreSQL to use the index.
SEARCH_CONFIG = "english"


def tweets_search(*, viewer: User | None, query: str) -> QuerySet[Tweet]:
    """Tweets (not retweets) matching the words of `query`, hydrated,
    unordered. On PostgreSQL, full-text search (websearch syntax: words,
    "a phrase", -word, or) on the GIN index over the text (feed.0009); on the
    embedded SQLite default, every word as a substring, any case (a scan,
    fine for a demo). The one place tweets are searched: what a viewer must
    not find is left out here."""
    tweets = unsilenced(tweets_hydrated(viewer=viewer).filter(retweet_of__isnull=True), viewer)
    if connection.vendor != "postgresql":
        words = query.split()
        if not words:
            return tweets.none()
        for word in words:
            tweets = tweets.filter(text__icontains=word)
        return tweets
    vector = SearchVector("text", config=SEARCH_CONFIG)
    return tweets.alias(search=vector).filter(search=SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch"))


def timeline_has_newer(*, viewer: User, since: datetime) -> bool:
    """Whether the viewer's followees posted (or retweeted) since `since`:
    the "new tweets" hint, one indexed EXISTS query."""
    followees = Follow.objects.filter(follower=viewer).values("followee_id")
    return (
        Tweet.objects.visible()
        .filter(author__in=followees, created_at__gt=since)
        .exclude(tweets_removed_by(viewer))
        .exclude(tweets_silenced_for(viewer))
        .exists()
    )
