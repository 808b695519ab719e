"""A fast synthetic engagement log for the training benchmarks: millions of
events with the skew of a real network (heavy-tailed author popularity and
user activity), written straight into PostgreSQL with COPY.

The simulator (simulator/) plays sessions against served feeds and is far
too slow for this; here every table is drawn at once with numpy, then
streamed in chunks through pyarrow's CSV writer into `COPY ... FROM STDIN`.
What it writes is what the example builder reads, in the real tables:
users, tweets (replies, retweets, deleted ones, ones older than the 30-day
lookback), the follow graph and its log (with unfollows and re-follows),
feed requests, impressions (some at the same instant as an action), dwells
and actions (some after the attribution window). It writes no state rows
(likes, hides, reports) and no day counters: the builder reads the log only.
"""

import io
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection

from feed.models import Engagement, FeedRequest, Tweet
from users.models import Follow, FollowEvent, User

CHUNK_ROWS = 1_000_000
VOCABULARY_WORDS = 3_000
# Per impression, the chance of each reaction (dwell is the common one).
REACTION_RATES = {
    "dwell": 0.5,
    "click": 0.03,
    "like": 0.04,
    "reply": 0.01,
    "retweet": 0.01,
    "hide": 0.005,
    "report": 0.001,
}
IMPRESSIONS_PER_REQUEST = 10
EVENTS_PER_TWEET = 20
LOOKBACK_DAYS = 45  # tweets start this long before the events: some are older than the 30-day windows
UNFOLLOW_SHARE, REFOLLOW_SHARE = 0.03, 0.3  # of edges; of the unfollowed
DELETED_SHARE, REPLY_SHARE, RETWEET_SHARE = 0.02, 0.1, 0.03


@dataclass(frozen=True)
class SynthSummary:
    users: int
    tweets: int
    follow_edges: int
    follow_events: int
    feed_requests: int
    events: int
    impressions: int
    since: str
    until: str
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Heavy-tailed weights over n items in random order: the k-th most
    popular has weight 1 / k**exponent."""
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    rng.shuffle(weights)
    return weights / weights.sum()


def _copy(table: str, columns: list[str], data: dict[str, np.ndarray | pa.Array]) -> None:
    """COPY `data` into `table` in chunks of CHUNK_ROWS, as CSV."""
    arrow = pa.table({name: data[name] for name in columns})
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg 3 cursor, for its COPY
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)") as copy:
            for start in range(0, arrow.num_rows, CHUNK_ROWS):
                buffer = io.BytesIO()
                pacsv.write_csv(
                    arrow.slice(start, CHUNK_ROWS),
                    buffer,
                    pacsv.WriteOptions(include_header=False, quoting_style="needed"),
                )
                copy.write(buffer.getvalue())


@contextmanager
def _indexes_set_aside(tables: list[str]):
    """Drop the tables' indexes that back no constraint for the block, and
    build them again after it: PostgreSQL loads rows about ten times faster
    without maintaining eight indexes row by row."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
             WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            """,
            [tables],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            # Sorted in memory rather than in temporary files.
            cursor.execute("SET maintenance_work_mem = '512MB'")
            for _, definition in indexes:
                cursor.execute(definition)
            cursor.execute("RESET maintenance_work_mem")


def _timestamps(ms: np.ndarray) -> pa.Array:
    return pa.array(ms.astype("datetime64[ms]"), type=pa.timestamp("ms", tz="UTC"))


def _next_id(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")  # noqa: S608  # nosec B608: a model's table name
        return int(cursor.fetchone()[0])


def _reset_sequence(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")  # noqa: S608  # nosec B608


def synth_log(
    *,
    events: int,
    users: int,
    seed: int = 0,
    followees: int | None = None,
    days: int = 14,
    until: datetime | None = None,
) -> SynthSummary:
    """Write about `events` engagement events by `users` new users over the
    `days` before `until` (two hours ago by default, so that every
    attribution window is over). With `followees`, every user follows that
    many others (popular ones more often); otherwise a heavy-tailed number,
    20 on average. Returns what was written."""
    began = time.perf_counter()
    rng = np.random.default_rng(seed)
    until = until or datetime.now(UTC) - timedelta(hours=2)
    end_ms = int(until.timestamp() * 1000)
    start_ms = end_ms - days * 86_400_000
    popularity = _zipf_weights(users, 1.1, rng)
    activity = _zipf_weights(users, 0.8, rng)
    user_base = _next_id(User._meta.db_table)
    user_ids = np.arange(user_base, user_base + users, dtype=np.int64)

    # The follow graph: followees drawn by popularity, no self-follows, no duplicates.
    if followees is None:
        per_user = np.minimum(rng.pareto(1.5, users) * 10 + 1, users - 1).astype(np.int64)
    else:
        per_user = np.full(users, min(followees, users - 1), dtype=np.int64)
    follower = np.repeat(np.arange(users, dtype=np.int64), per_user)
    followee = rng.choice(users, size=len(follower), p=popularity)
    # Duplicates and self-follows are redrawn uniformly once, then dropped.
    pair = follower * users + followee
    _, first = np.unique(pair, return_index=True)
    bad = np.ones(len(pair), bool)
    bad[first] = False
    bad |= follower == followee
    followee[bad] = rng.integers(0, users, size=int(bad.sum()))
    pair = follower * users + followee
    pair = np.unique(pair[follower != followee])
    follower, followee = pair // users, pair % users
    followed_ms = rng.integers(start_ms - LOOKBACK_DAYS * 86_400_000, end_ms, size=len(pair))
    unfollowed = rng.random(len(pair)) < UNFOLLOW_SHARE
    unfollow_ms = followed_ms + ((end_ms - followed_ms) * rng.random(len(pair))).astype(np.int64)
    refollowed = unfollowed & (rng.random(len(pair)) < REFOLLOW_SHARE)
    refollow_ms = unfollow_ms + ((end_ms - unfollow_ms) * rng.random(len(pair))).astype(np.int64)
    standing = ~unfollowed | refollowed
    follower_count = np.bincount(followee[standing], minlength=users)

    # Tweets: authors by popularity, times spread from the lookback to the end.
    n_tweets = max(events // EVENTS_PER_TWEET, 10)
    tweet_base = _next_id(Tweet._meta.db_table)
    tweet_ids = np.arange(tweet_base, tweet_base + n_tweets, dtype=np.int64)
    author = rng.choice(users, size=n_tweets, p=popularity)
    created_ms = np.sort(rng.integers(start_ms - LOOKBACK_DAYS * 86_400_000, end_ms, size=n_tweets))
    kind_draw = rng.random(n_tweets)
    earlier = (rng.random(n_tweets) * np.arange(n_tweets)).astype(np.int64)  # an earlier tweet (ids grow with time)
    is_reply = (kind_draw < REPLY_SHARE) & (np.arange(n_tweets) > 0)
    is_retweet = (kind_draw >= REPLY_SHARE) & (kind_draw < REPLY_SHARE + RETWEET_SHARE) & (np.arange(n_tweets) > 0)
    # One live retweet per (author, original): later duplicates become plain tweets.
    retweet_key = np.where(is_retweet, author * n_tweets + earlier, -1 - np.arange(n_tweets))
    _, first = np.unique(retweet_key, return_index=True)
    duplicate = np.ones(n_tweets, bool)
    duplicate[first] = False
    is_retweet &= ~duplicate
    deleted = rng.random(n_tweets) < DELETED_SHARE
    vocabulary = np.array([f"w{n}" for n in range(VOCABULARY_WORDS)], dtype=object)
    word_p = _zipf_weights(VOCABULARY_WORDS, 1.0, rng)
    lengths = rng.integers(3, 16, size=n_tweets)
    words = vocabulary[rng.choice(VOCABULARY_WORDS, size=int(lengths.sum()), p=word_p)]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    text = np.array([" ".join(words[bounds[i] : bounds[i + 1]]) for i in range(n_tweets)], dtype=object)
    text[is_retweet] = ""

    # Feed requests: viewers by activity, at any time of the period, each
    # showing IMPRESSIONS_PER_REQUEST tweets a few seconds apart: half of them
    # recent ones (a chronological feed), half by their author's popularity,
    # all posted before they are shown.
    rates = sum(REACTION_RATES.values())
    n_impressions = int(events / (1 + rates))
    n_requests = max(n_impressions // IMPRESSIONS_PER_REQUEST, 1)
    n_impressions = n_requests * IMPRESSIONS_PER_REQUEST
    request_user = rng.choice(users, size=n_requests, p=activity)
    request_ms = rng.integers(start_ms, end_ms - 60_000, size=n_requests)
    request_ids = _uuids(rng, n_requests)
    request_index = np.repeat(np.arange(n_requests), IMPRESSIONS_PER_REQUEST)
    position = np.tile(np.arange(IMPRESSIONS_PER_REQUEST), n_requests)
    viewer = request_user[request_index]
    # Some impressions share their request's instant; the others follow a few seconds apart.
    shown_ms = request_ms[request_index] + position * rng.integers(0, 5_000, size=n_impressions)
    available = np.searchsorted(created_ms, request_ms[request_index])  # tweets posted before the request
    recent = available - 1 - np.minimum(rng.geometric(0.002, size=n_impressions) - 1, available - 1)
    popular = rng.choice(n_tweets, size=n_impressions, p=popularity[author] / popularity[author].sum())
    shown = np.where((rng.random(n_impressions) < 0.5) & (popular < available), popular, recent)
    shown = np.maximum(shown, 0)

    # Reactions to impressions: after it (the same instant for some), a few after the attribution window.
    kinds, reaction_rows = [], []
    for kind, rate in REACTION_RATES.items():
        rows = np.flatnonzero(rng.random(n_impressions) < rate)
        kinds.append(np.full(len(rows), kind, dtype=object))
        reaction_rows.append(rows)
    reaction_rows_all = np.concatenate(reaction_rows)
    reaction_kind = np.concatenate(kinds)
    after = rng.exponential(5 * 60_000, size=len(reaction_rows_all)).astype(np.int64)
    after[rng.random(len(after)) < 0.05] = 0
    reaction_ms = np.minimum(shown_ms[reaction_rows_all] + after, end_ms + 3_600_000)
    dwell_ms = np.where(reaction_kind == "dwell", np.minimum(rng.lognormal(7.5, 1.2, size=len(after)), 600_000), np.nan)

    n_events = n_impressions + len(reaction_rows_all)
    rows = np.concatenate([np.arange(n_impressions), reaction_rows_all])
    event_kind = np.concatenate([np.full(n_impressions, "impression", dtype=object), reaction_kind])
    event_ms = np.concatenate([shown_ms, reaction_ms])
    all_dwell = np.concatenate([np.full(n_impressions, np.nan), dwell_ms])
    event_dwell = pa.array(np.nan_to_num(all_dwell).astype(np.int64), mask=np.isnan(all_dwell))
    is_impression = event_kind == "impression"
    event_position = pa.array(np.where(is_impression, position[rows], -1), mask=~is_impression)
    event_request = request_ids[request_index[rows]]
    event_request[~is_impression & (event_kind != "dwell")] = None  # actions come from the tweet, not the request

    with connection.cursor() as cursor:
        # Bulk load of rows consistent by construction: the foreign-key
        # triggers would check each of millions of rows one by one.
        cursor.execute("SET session_replication_role = replica")
    tables = [model._meta.db_table for model in (User, Tweet, Follow, FollowEvent, FeedRequest, Engagement)]
    try:
        with _indexes_set_aside(tables):
            joined = _timestamps(np.full(users, start_ms - LOOKBACK_DAYS * 86_400_000))
            _copy(
                User._meta.db_table,
                [
                    "id",
                    "password",
                    "is_superuser",
                    "username",
                    "first_name",
                    "last_name",
                    "email",
                    "is_staff",
                    "is_active",
                    "date_joined",
                    "display_name",
                    "bio",
                    "follower_count",
                ],
                {
                    "id": user_ids,
                    "password": np.full(users, "!", dtype=object),
                    "is_superuser": np.zeros(users, bool),
                    "username": np.array([f"synth{seed}_{u}" for u in user_ids], dtype=object),
                    "first_name": np.full(users, "", dtype=object),
                    "last_name": np.full(users, "", dtype=object),
                    "email": np.full(users, "", dtype=object),
                    "is_staff": np.zeros(users, bool),
                    "is_active": np.ones(users, bool),
                    "date_joined": joined,
                    "display_name": np.full(users, "", dtype=object),
                    "bio": np.full(users, "", dtype=object),
                    "follower_count": follower_count,
                },
            )
            _copy(
                Tweet._meta.db_table,
                [
                    "id",
                    "author_id",
                    "text",
                    "created_at",
                    "like_count",
                    "reply_count",
                    "retweet_count",
                    "deleted_at",
                    "reply_to_id",
                    "retweet_of_id",
                ],
                {
                    "id": tweet_ids,
                    "author_id": user_ids[author],
                    "text": text,
                    "created_at": _timestamps(created_ms),
                    "like_count": np.zeros(n_tweets, np.int64),
                    "reply_count": np.zeros(n_tweets, np.int64),
                    "retweet_count": np.zeros(n_tweets, np.int64),
                    "deleted_at": pa.array(
                        np.where(deleted, created_ms + 3_600_000, 0).astype("datetime64[ms]"),
                        type=pa.timestamp("ms", tz="UTC"),
                        mask=~deleted,
                    ),
                    "reply_to_id": pa.array(tweet_ids[earlier], mask=~is_reply),
                    "retweet_of_id": pa.array(tweet_ids[earlier], mask=~is_retweet),
                },
            )
            edges = np.flatnonzero(standing)
            edge_ms = np.where(refollowed, refollow_ms, followed_ms)
            _copy(
                Follow._meta.db_table,
                ["follower_id", "followee_id", "created_at"],
                {
                    "follower_id": user_ids[follower[edges]],
                    "followee_id": user_ids[followee[edges]],
                    "created_at": _timestamps(edge_ms[edges]),
                },
            )
            log_edge = np.concatenate([np.arange(len(pair)), np.flatnonzero(unfollowed), np.flatnonzero(refollowed)])
            log_kind = np.concatenate(
                [
                    np.full(len(pair), FollowEvent.Kind.FOLLOW.value, dtype=object),
                    np.full(int(unfollowed.sum()), FollowEvent.Kind.UNFOLLOW.value, dtype=object),
                    np.full(int(refollowed.sum()), FollowEvent.Kind.FOLLOW.value, dtype=object),
                ]
            )
            log_ms = np.concatenate([followed_ms, unfollow_ms[unfollowed], refollow_ms[refollowed]])
            _copy(
                FollowEvent._meta.db_table,
                ["follower_id", "followee_id", "kind", "created_at"],
                {
                    "follower_id": user_ids[follower[log_edge]],
                    "followee_id": user_ids[followee[log_edge]],
                    "kind": log_kind,
                    "created_at": _timestamps(log_ms),
                },
            )
            _copy(
                FeedRequest._meta.db_table,
                ["id", "user_id", "mode", "model_version", "variant", "created_at"],
                {
                    "id": request_ids,
                    "user_id": user_ids[request_user],
                    "mode": np.full(len(request_ids), FeedRequest.Mode.LATEST.value, dtype=object),
                    "model_version": np.full(len(request_ids), "", dtype=object),
                    "variant": np.full(len(request_ids), "", dtype=object),
                    "created_at": _timestamps(request_ms),
                },
            )
            stamps = _timestamps(event_ms)
            _copy(
                Engagement._meta.db_table,
                [
                    "user_id",
                    "tweet_id",
                    "kind",
                    "dwell_ms",
                    "feed_request_id",
                    "position",
                    "model_version",
                    "variant",
                    "created_at",
                    "received_at",
                ],
                {
                    "user_id": user_ids[viewer[rows]],
                    "tweet_id": tweet_ids[shown[rows]],
                    "kind": event_kind,
                    "dwell_ms": event_dwell,
                    "feed_request_id": pa.array(event_request, type=pa.string()),
                    "position": event_position,
                    "model_version": np.full(n_events, "", dtype=object),
                    "variant": np.full(n_events, "", dtype=object),
                    "created_at": stamps,
                    "received_at": stamps,
                },
            )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")
    for model in (User, Tweet):
        _reset_sequence(model._meta.db_table)
    with connection.cursor() as cursor:
        for model in (Engagement, Tweet, Follow, FollowEvent, User):
            cursor.execute(f"ANALYZE {model._meta.db_table}")  # nosec B608: a model's table name
    return SynthSummary(
        users=users,
        tweets=n_tweets,
        follow_edges=int(standing.sum()),
        follow_events=len(log_edge),
        feed_requests=len(request_ids),
        events=n_events,
        impressions=n_impressions,
        since=datetime.fromtimestamp(start_ms / 1000, UTC).isoformat(),
        until=until.isoformat(),
        seconds=round(time.perf_counter() - began, 2),
    )


def _uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16)
    return np.array([str(uuid.UUID(bytes=bytes(row))) for row in raw], dtype=object)
