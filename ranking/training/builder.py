"""The example builder at scale: labelled examples from the engagement log
as SQL on a data engine, out of core, in bounded memory.

Three steps:
1. `export_log` copies the window of the log out of PostgreSQL into Parquet
   files, a chunk at a time (psycopg's COPY ... TO STDOUT into pyarrow), so
   neither this process nor the engine ever holds the log in Python objects
   (the embedded SQLite, which has no COPY, goes through the ORM a chunk at
   a time). Tweets are tokenised here, by the same `tokens` the features use.
2. `STEPS` compute the spec's point-in-time features and labels as SQL
   written once in DuckDB's dialect: every windowed count is a running sum
   over one stream per key (the events, and the impressions as queries
   placed before the events of their own millisecond), read at the
   impression's time less the same read at its window's start; labels are
   a range join on (viewer, tweet) over the attribution window.
3. The result is written as Parquet shards; `read_examples` loads them as
   `Examples`, and ranking.training.stream feeds them to tf.data.

DuckDB runs it here (`build_examples`, in-process, with a memory limit,
its threads and a spill directory); ranking.training.spark runs the very
same steps on Spark, transpiled by sqlglot, for a log beyond one machine.
The reference evaluator (ranking.training.examples) is the definition this
one is tested equal to, on small worlds.
"""

# ruff: noqa: S608  # SQL built from the spec's constants and our own paths, never from input (so the nosec B608s)
import contextlib
import functools
import io
import itertools
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from django.conf import settings
from django.db import connection
from django.utils import timezone

from feed.models import Engagement, Tweet
from ranking.serving.features import empty_batch
from ranking.serving.text import tokens
from ranking.spec import (
    ACTIONS,
    AFFINITY_WINDOW,
    ATTRIBUTION_WINDOW,
    HEADS,
    NEGATIVES,
    NUMERIC_FEATURES,
    RECENT_WINDOW,
    SOCIAL,
    Examples,
    FeatureBatch,
    Kind,
    derived_features,
    window_start,
)
from users.models import FollowEvent

EXPORT_CHUNK_BYTES = 32 * 1024 * 1024  # of CSV from PostgreSQL per Parquet row group
SHARD_ROWS = 250_000  # examples per Parquet shard (about 40 MB)
DAY_MS = 86_400_000
EPOCH_SQL = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"  # ranking.training.examples.EPOCH
EPOCH_S = 946_684_800.0


def _ms(column: str) -> str:
    """SQL: a timestamptz column as whole milliseconds since EPOCH, rounded down."""
    return f"FLOOR(EXTRACT(EPOCH FROM {column} - {EPOCH_SQL}) * 1000)::bigint"


@dataclass(frozen=True)
class Window:
    """The impressions [since, until) to build, and what the log holds for them."""

    since: datetime
    until: datetime

    @property
    def log_since(self) -> datetime:
        return window_start(self.since, AFFINITY_WINDOW)

    @property
    def log_until(self) -> datetime:
        return self.until + ATTRIBUTION_WINDOW


def example_window(
    *, since: datetime | None = None, until: datetime | None = None, now: datetime | None = None
) -> Window | None:
    """The reference builder's window: from the first event (or `since`) to
    `until`, at the latest one ATTRIBUTION_WINDOW before `now`; None when empty."""
    first = Engagement.objects.order_by("created_at").values_list("created_at", flat=True).first()
    last = Engagement.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    if first is None:
        return None
    since = since or first
    until = min(until or last + timedelta(microseconds=1), (now or timezone.now()) - ATTRIBUTION_WINDOW)
    return Window(since, until) if until > since else None


# --- 1. The export ----------------------------------------------------------

EVENTS_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("user_id", pa.int64()),
        ("tweet", pa.int64()),
        ("author", pa.int64()),
        ("kind", pa.string()),
        ("dwell", pa.int64()),
        ("ms", pa.int64()),
        ("feed_request", pa.string()),
        ("shown", pa.bool_()),
    ]
)
FOLLOWS_SCHEMA = pa.schema(
    [("follower", pa.int64()), ("followee", pa.int64()), ("delta", pa.int64()), ("ms", pa.int64())]
)


def _copy_to_parquet(sql: str, params: list, schema: pa.Schema, path: Path) -> int:
    """Stream `COPY (sql) TO STDOUT` as CSV into one Parquet file, a row group
    per EXPORT_CHUNK_BYTES: the columns must hold no newline (no free text)."""
    rows = 0
    options = pacsv.ConvertOptions(
        column_types=schema,
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        true_values=["t"],  # PostgreSQL's booleans
        false_values=["f"],
    )
    read = pacsv.ReadOptions(column_names=schema.names)
    with connection.cursor() as cursor, pq.ParquetWriter(path, schema) as writer:
        query = cursor.cursor.mogrify(sql, params) if params else sql
        with cursor.cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)") as copy:
            pending = bytearray()

            def flush(data: bytes) -> int:
                table = pacsv.read_csv(io.BytesIO(data), read_options=read, convert_options=options)
                writer.write_table(table)
                return table.num_rows

            for block in copy:
                pending += block
                if len(pending) >= EXPORT_CHUNK_BYTES:
                    cut = pending.rindex(b"\n") + 1
                    rows += flush(bytes(pending[:cut]))
                    del pending[:cut]
            if pending:
                rows += flush(bytes(pending))
    return rows


def export_log(window: Window, directory: Path, *, copy: bool | None = None) -> dict[str, int]:
    """Parquet files of what the examples of `window` read: the log's events
    from the start of the first impression's affinity window to the end of
    the last one's attribution window (`events`), the follow log before its
    end (`follows`), and every tweet with its words (`tweets`, `words`).
    Returns the rows written per file. On PostgreSQL (`copy`, the default
    there) the log leaves by COPY; elsewhere (the embedded SQLite) through
    the ORM, a chunk at a time, as the same rows."""
    directory.mkdir(parents=True, exist_ok=True)
    if copy is None:
        copy = connection.vendor == "postgresql"
    events, follows = directory / "events.parquet", directory / "follows.parquet"
    if copy:
        engagement, tweet = Engagement._meta.db_table, Tweet._meta.db_table
        counts = {
            "events": _copy_to_parquet(
                f"""SELECT e.id, e.user_id, e.tweet_id, t.author_id, e.kind, COALESCE(e.dwell_ms, 0),
                           {_ms("e.created_at")}, COALESCE(e.feed_request_id::text, ''),
                           e.kind = 'impression' AND e.created_at >= %s AND e.created_at < %s
                      FROM {engagement} e JOIN {tweet} t ON t.id = e.tweet_id
                     WHERE e.created_at >= %s AND e.created_at < %s""",  # nosec B608: table names
                [window.since, window.until, window.log_since, window.log_until],
                EVENTS_SCHEMA,
                events,
            ),
            "follows": _copy_to_parquet(
                f"""SELECT follower_id, followee_id, CASE WHEN kind = %s THEN 1 ELSE -1 END, {_ms("created_at")}
                      FROM {FollowEvent._meta.db_table} WHERE created_at < %s""",  # nosec B608
                [FollowEvent.Kind.FOLLOW.value, window.until],
                FOLLOWS_SCHEMA,
                follows,
            ),
        }
    else:
        counts = {
            "events": _rows_to_parquet(_event_rows(window), EVENTS_SCHEMA, events),
            "follows": _rows_to_parquet(_follow_rows(window), FOLLOWS_SCHEMA, follows),
        }
    counts.update(_export_tweets(directory))
    return counts


EPOCH_AT = datetime(2000, 1, 1, tzinfo=UTC)
MS, US = timedelta(milliseconds=1), timedelta(microseconds=1)
ORM_CHUNK_ROWS = 100_000


def _since_epoch(at: datetime, unit: timedelta) -> int:
    """Whole units since EPOCH, rounded down (as `_ms` rounds in PostgreSQL)."""
    return (at - EPOCH_AT) // unit


def _event_rows(window: Window) -> Iterator[tuple]:
    rows = (
        Engagement.objects.filter(created_at__gte=window.log_since, created_at__lt=window.log_until)
        .values_list(
            "id", "user_id", "tweet_id", "tweet__author_id", "kind", "dwell_ms", "created_at", "feed_request_id"
        )
        .iterator(chunk_size=ORM_CHUNK_ROWS)
    )
    for id_, user, tweet, author, kind, dwell, at, feed_request in rows:
        shown = kind == Kind.IMPRESSION.value and window.since <= at < window.until
        yield id_, user, tweet, author, kind, dwell or 0, _since_epoch(at, MS), str(feed_request or ""), shown


def _follow_rows(window: Window) -> Iterator[tuple]:
    rows = (
        FollowEvent.objects.filter(created_at__lt=window.until)
        .values_list("follower_id", "followee_id", "kind", "created_at")
        .iterator(chunk_size=ORM_CHUNK_ROWS)
    )
    for follower, followee, kind, at in rows:
        yield follower, followee, 1 if kind == FollowEvent.Kind.FOLLOW.value else -1, _since_epoch(at, MS)


def _rows_to_parquet(rows: Iterator[tuple], schema: pa.Schema, path: Path) -> int:
    """Rows (tuples in the schema's order) into one Parquet file, a row group per ORM_CHUNK_ROWS."""
    written = 0
    with pq.ParquetWriter(path, schema) as writer:
        while chunk := list(itertools.islice(rows, ORM_CHUNK_ROWS)):
            columns = zip(*chunk, strict=True)
            writer.write_table(
                pa.table([pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema=schema)
            )
            written += len(chunk)
    return written


TWEETS_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("author", pa.int64()),
        ("created_us", pa.int64()),
        ("is_reply", pa.int64()),
        ("is_retweet", pa.int64()),
        ("chars", pa.int64()),
        ("n_words", pa.int64()),
        ("text", pa.string()),
    ]
)
WORDS_SCHEMA = pa.schema([("tweet", pa.int64()), ("word", pa.string()), ("n", pa.int64())])


def _export_tweets(directory: Path) -> dict[str, int]:
    """Tweets, with their words as `tokens` splits them (a word's `n` is how
    often it occurs: a text's match is a mean over its words with repeats)."""
    rows = Tweet.objects.values_list("id", "author_id", "created_at", "reply_to_id", "retweet_of_id", "text").iterator(
        chunk_size=ORM_CHUNK_ROWS
    )
    n_tweets = n_words = 0
    with (
        pq.ParquetWriter(directory / "tweets.parquet", TWEETS_SCHEMA) as tweets_out,
        pq.ParquetWriter(directory / "words.parquet", WORDS_SCHEMA) as words_out,
    ):
        while chunk := list(itertools.islice(rows, ORM_CHUNK_ROWS)):
            ids, authors, created_at, reply_to, retweet_of, texts = zip(*chunk, strict=True)
            words = [tokens(text) for text in texts]
            tweets_out.write_table(
                pa.table(
                    [
                        pa.array(ids, pa.int64()),
                        pa.array(authors, pa.int64()),
                        pa.array([_since_epoch(at, US) for at in created_at], pa.int64()),
                        pa.array([int(r is not None) for r in reply_to], pa.int64()),
                        pa.array([int(r is not None) for r in retweet_of], pa.int64()),
                        pa.array([len(text) for text in texts], pa.int64()),
                        pa.array([len(w) for w in words], pa.int64()),
                        pa.array(texts, pa.string()),
                    ],
                    schema=TWEETS_SCHEMA,
                )
            )
            word_tweet, word, count = [], [], []
            for tweet_id, tweet_words in zip(ids, words, strict=True):
                for w, n in _counts(tweet_words).items():
                    word_tweet.append(tweet_id)
                    word.append(w)
                    count.append(n)
            words_out.write_table(pa.table([word_tweet, word, count], schema=WORDS_SCHEMA))
            n_tweets += len(chunk)
            n_words += len(word)
    return {"tweets": n_tweets, "words": n_words}


def _counts(words: tuple[str, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for word in words:
        counts[word] = counts.get(word, 0) + 1
    return counts


# --- 2. The features and labels, as SQL -------------------------------------


def _kinds(kinds) -> str:
    return ", ".join(f"'{Kind(kind).value}'" for kind in kinds)


def _window_start_sql(t: str, window: timedelta) -> str:
    """ranking.spec.window_start of t (ms): a UTC midnight, in ms."""
    window_ms = int(window.total_seconds() * 1000)
    return f"CAST(FLOOR(({t} - {window_ms}) / CAST({DAY_MS} AS DOUBLE)) AS BIGINT) * {DAY_MS}"


def _as_of_step(
    name: str,
    *,
    keys: list[str],
    queries: str,
    reads: list[str],
    events: str,
    values: list[str],
    asof: bool = True,
) -> tuple[str, str]:
    """A step: for each query row (iid, keys..., and one column per read
    time), the sums of each event value over the events of its keys strictly
    before each read time, as columns `<value>_<read>`.

    One stream per key: the events summed per millisecond, and the distinct
    read times placed before the events of their own millisecond; the
    running sum at a read is what happened before it. A windowed count is
    the read at t less the read at the window's start (impressions share
    few window starts: they are read once per key and day)."""
    key_list = ", ".join(keys)
    if asof:
        return name, _as_of_join(keys=keys, queries=queries, reads=reads, events=events, values=values)
    zeros = ", ".join(f"{ZERO} AS {v}" for v in values)
    read_rows = " UNION ".join(f"SELECT {key_list}, {read} AS ms FROM q" for read in reads)  # nosec B608
    per_ms = ", ".join(f"SUM({v}) AS {v}" for v in values)
    sums = ", ".join(f"SUM({v}) OVER (PARTITION BY {key_list} ORDER BY ms, side) AS {v}" for v in values)
    value_list = ", ".join(values)
    joins, columns = [], []
    for r, read in enumerate(reads):
        on = " AND ".join([f"r{r}.{k} = q.{k}" for k in keys] + [f"r{r}.ms = q.{read}"])
        joins.append(f"JOIN at_read r{r} ON {on}")
        columns += [f"r{r}.{v} AS {v}_{read}" for v in values]
    sql = f"""
WITH q AS ({queries}),
e AS (SELECT {key_list}, ms, {per_ms} FROM ({events}) x
       WHERE EXISTS (SELECT 1 FROM q WHERE {_same_keys(keys)}) GROUP BY {key_list}, ms),
stream AS (
  SELECT {key_list}, ms, 0 AS side, {zeros} FROM ({read_rows})
  UNION ALL SELECT {key_list}, ms, 1 AS side, {value_list} FROM e
),
at_read AS (SELECT * FROM (SELECT {key_list}, ms, side, {sums} FROM stream) WHERE side = 0)
SELECT q.iid, {", ".join(columns)}
  FROM q {" ".join(joins)}"""  # nosec B608
    return name, sql


ONE, ZERO = "CAST(1 AS DOUBLE)", "CAST(0 AS DOUBLE)"  # not 1.0: a DECIMAL literal in both dialects
PACK = 1_000_000  # sub-rows of one impression (its edges, its words) are iid * PACK + n


def _same_keys(keys: list[str]) -> str:
    """Only the events of keys some query reads: a follow graph of 20 M
    edges, say, is read for the few pairs impressions ask about."""
    return " AND ".join(f"q.{k} = x.{k}" for k in keys)


def _as_of_join(*, keys: list[str], queries: str, reads: list[str], events: str, values: list[str]) -> str:
    """`_as_of` with DuckDB's ASOF JOIN (a sort-merge, several times faster
    than the window over the merged stream): the running sums of the events
    per key and millisecond, each read taken from the latest millisecond
    strictly before it."""
    key_list = ", ".join(keys)
    per_ms = ", ".join(f"SUM({v}) AS {v}" for v in values)
    sums = ", ".join(f"SUM({v}) OVER (PARTITION BY {key_list} ORDER BY ms) AS {v}" for v in values)
    joins, columns = [], []
    for r, read in enumerate(reads):
        on = " AND ".join([f"r{r}.{k} = q.{k}" for k in keys] + [f"q.{read} > r{r}.ms"])
        joins.append(f"ASOF LEFT JOIN running r{r} ON {on}")
        columns += [f"COALESCE(r{r}.{v}, {ZERO}) AS {v}_{read}" for v in values]
    return f"""
WITH q AS ({queries}),
e AS (SELECT {key_list}, ms, {per_ms} FROM ({events}) x
       WHERE EXISTS (SELECT 1 FROM q WHERE {_same_keys(keys)}) GROUP BY {key_list}, ms),
running AS (SELECT {key_list}, ms, {sums} FROM e)
SELECT q.iid, {", ".join(columns)}
  FROM q {" ".join(joins)}"""  # nosec B608


def build_steps(*, dwell_long_ms: int | None = None, asof_join: bool = True) -> list[tuple[str, str]]:
    """The builder as (table, SELECT) steps in DuckDB's SQL, each reading the
    inputs (events, follows, tweets, words) and the tables of earlier steps.
    The last, `examples`, is one row per impression. Without `asof_join`,
    only standard SQL (window functions, no ASOF JOIN): what sqlglot can
    transpile for another engine."""
    long_ms = settings.DWELL_LONG_MS if dwell_long_ms is None else dwell_long_ms
    _as_of = functools.partial(_as_of_step, asof=asof_join)
    attribution_ms = int(ATTRIBUTION_WINDOW.total_seconds() * 1000)

    def flag(condition: str) -> str:
        return f"CASE WHEN {condition} THEN {ONE} ELSE {ZERO} END"

    def kind_in(kinds, e: str = "") -> str:
        return flag(f"{e}kind IN ({_kinds(kinds)})")

    def log_dwell(e: str = "") -> str:
        return f"CASE WHEN {e}kind = '{Kind.DWELL.value}' THEN LN(1 + {e}dwell) ELSE {ZERO} END"

    def long_dwell(e: str = "") -> str:
        return flag(f"{e}kind = '{Kind.DWELL.value}' AND {e}dwell >= {long_ms}")

    def positive(e: str = "") -> str:
        return flag(f"{e}kind IN ({_kinds(ACTIONS)}) OR ({e}kind = '{Kind.DWELL.value}' AND {e}dwell >= {long_ms})")

    dwells = kind_in([Kind.DWELL])
    return [
        (
            "imp",
            f"""SELECT id AS iid, user_id AS viewer, tweet, author, ms AS t, feed_request,
                       {_window_start_sql("ms", AFFINITY_WINDOW)} AS s30, {_window_start_sql("ms", RECENT_WINDOW)} AS s7
                  FROM events WHERE shown""",  # nosec B608
        ),
        _as_of(
            "tweet_counts",
            keys=["k1"],
            queries="SELECT iid, tweet AS k1, t, s30 FROM imp",
            reads=["t", "s30"],
            events=f"""SELECT tweet AS k1, ms, {kind_in([Kind.IMPRESSION])} AS impressions,
                        {kind_in([Kind.LIKE])} AS likes, {kind_in([Kind.REPLY])} AS replies,
                        {kind_in([Kind.RETWEET])} AS retweets, {kind_in(NEGATIVES)} AS negatives,
                        {dwells} AS dwells, {log_dwell()} AS log_dwell FROM events""",  # nosec B608
            values=["impressions", "likes", "replies", "retweets", "negatives", "dwells", "log_dwell"],
        ),
        _as_of(
            "pair_counts",
            keys=["k1", "k2"],
            queries="SELECT iid, viewer AS k1, author AS k2, t, s30 FROM imp",
            reads=["t", "s30"],
            events=f"""SELECT user_id AS k1, author AS k2, ms, {kind_in([Kind.IMPRESSION])} AS impressions,
                        {kind_in([Kind.LIKE])} AS likes, {kind_in([Kind.REPLY])} AS replies,
                        {kind_in([Kind.RETWEET])} AS retweets, {kind_in(NEGATIVES)} AS negatives,
                        {long_dwell()} AS long_dwells, {dwells} AS dwells, {log_dwell()} AS log_dwell
                        FROM events""",  # nosec B608
            values=["impressions", "likes", "replies", "retweets", "negatives", "long_dwells", "dwells", "log_dwell"],
        ),
        # The viewer's own: dwells and the text profile's positive words over the month, activity over the week.
        _as_of(
            "viewer_counts",
            keys=["k1"],
            queries="SELECT iid, viewer AS k1, t, s30, s7 FROM imp",
            reads=["t", "s30", "s7"],
            events=f"""SELECT e.user_id AS k1, e.ms, {kind_in([Kind.DWELL], "e.")} AS dwells,
                        {log_dwell("e.")} AS log_dwell, {kind_in([Kind.IMPRESSION], "e.")} AS impressions,
                        {kind_in(ACTIONS, "e.")} AS actions,
                        {positive("e.")} * COALESCE(w.distinct_words, 0) AS positive_words
                        FROM events e
                        LEFT JOIN (SELECT tweet, COUNT(*) AS distinct_words FROM words GROUP BY tweet) w
                          ON w.tweet = e.tweet""",  # nosec B608
            values=["dwells", "log_dwell", "impressions", "actions", "positive_words"],
        ),
        # The author's week (what their tweets received, what they posted) and their followers at t.
        _as_of(
            "author_counts",
            keys=["k1"],
            queries="SELECT iid, author AS k1, t, s7 FROM imp",
            reads=["t", "s7"],
            events=f"""SELECT author AS k1, ms, {kind_in([Kind.IMPRESSION])} AS impressions,
                        {kind_in([Kind.LIKE])} AS likes, {kind_in(NEGATIVES)} AS negatives,
                        {dwells} AS dwells, {log_dwell()} AS log_dwell, {ZERO} AS tweets, {ZERO} AS followers
                        FROM events
                      UNION ALL
                      SELECT author AS k1, CAST(FLOOR(created_us / 1000) AS BIGINT) AS ms, {ZERO}, {ZERO}, {ZERO},
                        {ZERO}, {ZERO}, {ONE}, {ZERO} FROM tweets WHERE is_retweet = 0
                      UNION ALL
                      SELECT followee AS k1, ms, {ZERO}, {ZERO}, {ZERO}, {ZERO}, {ZERO}, {ZERO},
                        CAST(delta AS DOUBLE) FROM follows""",  # nosec B608
            values=["impressions", "likes", "negatives", "dwells", "log_dwell", "tweets", "followers"],
        ),
        # Followees who engaged: the likers and retweeters of the tweet in [s30, t), counted when followed at t.
        (
            "engagers",
            f"""SELECT DISTINCT i.iid, i.viewer, s.user_id AS engager, i.t
                  FROM imp i JOIN events s ON s.tweet = i.tweet AND s.ms >= i.s30 AND s.ms < i.t
                 WHERE s.kind IN ({_kinds(SOCIAL)})""",  # nosec B608
        ),
        # Edges as of t, numbered within their impression: 0 (viewer, author), 1 (author, viewer), 2... engagers.
        _as_of(
            "edges",
            keys=["k1", "k2"],
            queries=f"""SELECT iid * {PACK} AS iid, viewer AS k1, author AS k2, t FROM imp
                        UNION ALL SELECT iid * {PACK} + 1, author, viewer, t FROM imp
                        UNION ALL SELECT iid * {PACK} + 1 + ROW_NUMBER() OVER (PARTITION BY iid ORDER BY engager),
                                         viewer, engager, t FROM engagers""",  # nosec B608
            reads=["t"],
            events="SELECT follower AS k1, followee AS k2, ms, CAST(delta AS DOUBLE) AS net FROM follows",
            values=["net"],
        ),
        (
            "follow_features",
            f"""SELECT CAST(FLOOR(iid / {PACK}) AS BIGINT) AS iid,
                       MAX(CASE WHEN iid % {PACK} = 0 AND net_t > 0 THEN 1 ELSE 0 END) AS follows_author,
                       MAX(CASE WHEN iid % {PACK} = 1 AND net_t > 0 THEN 1 ELSE 0 END) AS author_follows_viewer,
                       SUM(CASE WHEN iid % {PACK} >= 2 AND net_t > 0 THEN 1 ELSE 0 END) AS followees_engaged
                  FROM edges GROUP BY CAST(FLOOR(iid / {PACK}) AS BIGINT)""",  # nosec B608
        ),
        # The text profile: what the viewer reacted to, per word, read at t and at the month's start.
        (
            "reaction_words",
            f"""SELECT e.user_id AS k1, w.word AS k2, e.ms, {positive("e.")} AS positive,
                       {kind_in(NEGATIVES, "e.")} AS negative, {kind_in([Kind.DWELL], "e.")} AS dwells,
                       {log_dwell("e.")} AS log_dwell
                  FROM events e JOIN words w ON w.tweet = e.tweet
                 WHERE e.kind IN ({_kinds((*ACTIONS, *NEGATIVES, Kind.DWELL))})""",  # nosec B608
        ),
        # Only the words the viewer ever reacted to can score: the others add zeros to the mean.
        (
            "impression_words",
            f"""SELECT i.iid * {PACK} + ROW_NUMBER() OVER (PARTITION BY i.iid ORDER BY w.word) AS wid, i.iid,
                       i.viewer, w.word, w.n, i.t, i.s30
                  FROM imp i JOIN words w ON w.tweet = i.tweet
                 WHERE EXISTS (SELECT 1 FROM reaction_words r WHERE r.k1 = i.viewer AND r.k2 = w.word)""",  # nosec B608
        ),
        _as_of(
            "word_counts",
            keys=["k1", "k2"],
            queries="SELECT wid AS iid, viewer AS k1, word AS k2, t, s30 FROM impression_words",
            reads=["t", "s30"],
            events="SELECT k1, k2, ms, positive, negative, dwells, log_dwell FROM reaction_words",
            values=["positive", "negative", "dwells", "log_dwell"],
        ),
        (
            "text_features",
            f"""SELECT q.iid,
                       SUM(q.n * LN(1 + c.pos)) AS affinity,
                       SUM(q.n * CASE WHEN v.pw > 0 THEN c.pos / v.pw ELSE {ZERO} END) AS share,
                       SUM(q.n * LN(1 + c.neg)) AS aversion,
                       SUM(q.n * CASE WHEN c.dw > 0 THEN c.ld / c.dw - v.ld / v.dw ELSE {ZERO} END) AS lift
                  FROM impression_words q
                  JOIN (SELECT iid AS wid, positive_t - positive_s30 AS pos, negative_t - negative_s30 AS neg,
                               dwells_t - dwells_s30 AS dw, log_dwell_t - log_dwell_s30 AS ld FROM word_counts) c
                    ON c.wid = q.wid
                  JOIN (SELECT iid, positive_words_t - positive_words_s30 AS pw, dwells_t - dwells_s30 AS dw,
                               log_dwell_t - log_dwell_s30 AS ld FROM viewer_counts) v ON v.iid = q.iid
                 GROUP BY q.iid""",  # nosec B608
        ),
        ("labels", _labels_sql(long_ms, attribution_ms)),
        ("examples", _examples_sql()),
    ]


def _labels_sql(long_ms: int, attribution_ms: int) -> str:
    heads = []
    for head in HEADS:
        hit = f"e.kind = '{Kind.DWELL.value}' AND e.dwell >= {long_ms}" if head == "dwell" else f"e.kind = '{head}'"
        heads.append(f"MAX(CASE WHEN {hit} THEN 1 ELSE 0 END) AS label_{head}")
    return f"""SELECT i.iid, {", ".join(heads)}
                 FROM imp i JOIN events e
                   ON e.user_id = i.viewer AND e.tweet = i.tweet AND e.ms >= i.t AND e.ms < i.t + {attribution_ms}
                GROUP BY i.iid"""  # nosec B608


def _examples_sql() -> str:
    columns = {
        "age_h": "(i.t * 1000 - tw.created_us) / CAST(3600000000 AS DOUBLE)",
        "is_reply": "tw.is_reply",
        "text_chars": "tw.chars",
        "follows_author": "COALESCE(f.follows_author, 0)",
        "author_follows_viewer": "COALESCE(f.author_follows_viewer, 0)",
        "author_followers": "a.followers_t",
        "tweet_impressions": "tc.impressions_t - tc.impressions_s30",
        "tweet_likes": "tc.likes_t - tc.likes_s30",
        "tweet_replies": "tc.replies_t - tc.replies_s30",
        "tweet_retweets": "tc.retweets_t - tc.retweets_s30",
        "tweet_negatives": "tc.negatives_t - tc.negatives_s30",
        "tweet_likes_per_h": ZERO,  # derived when read (ranking.spec.derived_features)
        "tweet_mean_log_dwell": _mean("tc.log_dwell_t - tc.log_dwell_s30", "tc.dwells_t - tc.dwells_s30"),
        "followees_engaged": "COALESCE(f.followees_engaged, 0)",
        "aff_impressions": "p.impressions_t - p.impressions_s30",
        "aff_likes": "p.likes_t - p.likes_s30",
        "aff_replies": "p.replies_t - p.replies_s30",
        "aff_retweets": "p.retweets_t - p.retweets_s30",
        "aff_long_dwells": "p.long_dwells_t - p.long_dwells_s30",
        "aff_dwell_lift": f"""CASE WHEN p.dwells_t - p.dwells_s30 > 0
                  THEN {_mean("p.log_dwell_t - p.log_dwell_s30", "p.dwells_t - p.dwells_s30")}
                       - {_mean("v.log_dwell_t - v.log_dwell_s30", "v.dwells_t - v.dwells_s30")}
                  ELSE {ZERO} END""",
        "aff_negatives": "p.negatives_t - p.negatives_s30",
        "author_tweets_7d": "a.tweets_t - a.tweets_s7",
        "author_negatives_7d": "a.negatives_t - a.negatives_s7",
        "author_likes_7d": "a.likes_t - a.likes_s7",
        "author_impressions_7d": "a.impressions_t - a.impressions_s7",
        "author_mean_log_dwell_7d": _mean("a.log_dwell_t - a.log_dwell_s7", "a.dwells_t - a.dwells_s7"),
        "viewer_impressions_7d": "v.impressions_t - v.impressions_s7",
        "viewer_actions_7d": "v.actions_t - v.actions_s7",
        "viewer_mean_log_dwell": _mean("v.log_dwell_t - v.log_dwell_s30", "v.dwells_t - v.dwells_s30"),
        "text_affinity": f"COALESCE(x.affinity, {ZERO}) / GREATEST(tw.n_words, 1)",
        "text_affinity_share": f"COALESCE(x.share, {ZERO}) / GREATEST(tw.n_words, 1)",
        "text_aversion": f"COALESCE(x.aversion, {ZERO}) / GREATEST(tw.n_words, 1)",
        "text_dwell_lift": f"COALESCE(x.lift, {ZERO}) / GREATEST(tw.n_words, 1)",
    }
    if list(columns) != list(NUMERIC_FEATURES):
        raise RuntimeError("the builder's columns must be the spec's, in its order")
    features = ",\n       ".join(f"CAST({sql} AS DOUBLE) AS {name}" for name, sql in columns.items())
    labels = ", ".join(f"COALESCE(l.label_{head}, 0) AS label_{head}" for head in HEADS)
    return f"""
SELECT i.iid, i.viewer, i.author, i.tweet, i.t, i.feed_request, tw.text,
       {features},
       {labels}
  FROM imp i
  JOIN tweets tw ON tw.id = i.tweet
  JOIN tweet_counts tc ON tc.iid = i.iid
  JOIN pair_counts p ON p.iid = i.iid
  JOIN viewer_counts v ON v.iid = i.iid
  JOIN author_counts a ON a.iid = i.iid
  LEFT JOIN follow_features f ON f.iid = i.iid
  LEFT JOIN text_features x ON x.iid = i.iid
  LEFT JOIN labels l ON l.iid = i.iid"""  # nosec B608


def _mean(total: str, count: str) -> str:
    return f"CASE WHEN {count} > 0 THEN ({total}) / ({count}) ELSE {ZERO} END"


# --- 3. Running it: DuckDB, shards, reading them back ------------------------

INPUTS = ("events", "follows", "tweets", "words")


@dataclass(frozen=True)
class BuildReport:
    examples: int
    exported: dict[str, int]
    export_s: float
    build_s: float
    shards: int
    engine: str
    peak_rss_mb: float | None  # this process's, with DuckDB inside it
    engine_peak_mb: float  # DuckDB's own, sampled (engine_memory_peak)
    step_s: dict[str, float]  # seconds per step of the engine's part, in order

    def as_dict(self) -> dict:
        return asdict(self)


def peak_rss_mb() -> float | None:
    """This process's peak resident memory since it started its program
    (VmHWM, reset by exec, unlike getrusage's ru_maxrss, which a child
    inherits from its parent's size when it forked)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def duckdb_connect(work: Path, *, memory: str | None = None, threads: int | None = None):
    """A DuckDB database file in `work` (so its tables can leave memory),
    with a memory limit, its threads and a directory to spill to."""
    con = duckdb.connect(str(work / "build.duckdb"))
    con.execute(f"SET memory_limit = '{memory or settings.TRAINING_ENGINE_MEMORY}'")
    con.execute(f"SET threads = {int(threads or settings.TRAINING_ENGINE_THREADS or _cores())}")
    con.execute(f"SET temp_directory = '{work / 'spill'}'")
    # Order across threads is not needed (rows carry their ids) and costs memory.
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    # Freed memory back to the system between tasks, so the process's resident
    # size follows the engine's use rather than its high-water mark.
    con.execute("SET allocator_flush_threshold = '32MB'")
    con.execute("SET allocator_background_threads = true")
    return con


ENGINE_SAMPLE_S = 0.25


@contextlib.contextmanager
def engine_memory_peak(con) -> Iterator[dict]:
    """DuckDB's own memory (the sum of `duckdb_memory()`, its buffer
    manager's accounts) sampled on another connection while the block runs:
    the engine's share of the process's peak, as `mb` once the block ends.
    A sample every ENGINE_SAMPLE_S can miss a shorter spike."""
    peak = {"mb": 0.0}
    done = threading.Event()
    probe = con.cursor()

    def sample() -> None:
        while not done.wait(ENGINE_SAMPLE_S):
            used = probe.execute("SELECT SUM(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0] or 0
            peak["mb"] = max(peak["mb"], round(used / 2**20, 1))

    sampler = threading.Thread(target=sample, name="engine-memory", daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()
        probe.close()


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def run_duckdb(
    con, inputs: Path, shards: Path, *, steps: list[tuple[str, str]] | None = None, timings: dict | None = None
) -> int:
    """Run the steps on the Parquet `inputs`, write the examples as Parquet
    shards in `shards`; returns how many examples. Each step's seconds go
    into `timings` (the last, `examples`, includes writing the shards)."""
    for name in INPUTS:
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{inputs / name}.parquet')")  # nosec B608
    steps = steps or build_steps()
    timings = {} if timings is None else timings
    for name, sql in steps[:-1]:
        began = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")
        timings[name] = round(time.perf_counter() - began, 2)
    n = int(con.execute("SELECT COUNT(*) FROM imp").fetchone()[0])
    # Shards by the impression's id: each holds a spread of the window's time.
    began = time.perf_counter()
    con.execute(
        f"COPY (SELECT *, iid % {n_shards(n)} AS shard FROM ({steps[-1][1]})) TO '{shards}'"  # nosec B608
        " (FORMAT parquet, PARTITION_BY (shard), OVERWRITE_OR_IGNORE)"
    )
    timings[steps[-1][0]] = round(time.perf_counter() - began, 2)
    return n


def n_shards(examples: int) -> int:
    return max(1, -(-examples // SHARD_ROWS))


def build_examples(
    window: Window, directory: Path, *, memory: str | None = None, threads: int | None = None
) -> BuildReport:
    """Export `window` of the log into `directory`/log, build its examples
    with DuckDB into `directory`/shards (Parquet)."""
    began = time.perf_counter()
    exported = export_log(window, directory / "log")
    export_s = time.perf_counter() - began
    con = duckdb_connect(directory, memory=memory, threads=threads)
    step_s: dict[str, float] = {}
    try:
        with engine_memory_peak(con) as engine_peak:
            n = run_duckdb(con, directory / "log", directory / "shards", timings=step_s)
    finally:
        con.close()
    (directory / "build.duckdb").unlink(missing_ok=True)
    return BuildReport(
        examples=n,
        exported=exported,
        export_s=round(export_s, 2),
        build_s=round(time.perf_counter() - began - export_s, 2),
        shards=len(shard_files(directory / "shards")),
        engine=f"duckdb {duckdb.__version__}",
        peak_rss_mb=peak_rss_mb(),
        engine_peak_mb=engine_peak["mb"],
        step_s=step_s,
    )


def shard_files(shards: Path) -> list[Path]:
    return sorted(shards.glob("**/*.parquet"))


def examples_from_table(table: pa.Table) -> Examples:
    """`Examples` of an Arrow table of the builder's rows, in their order."""
    numeric = (
        np.column_stack([table.column(name).to_numpy().astype(np.float32) for name in NUMERIC_FEATURES])
        if table.num_rows
        else np.zeros((0, len(NUMERIC_FEATURES)), np.float32)
    )
    features = FeatureBatch(
        derived_features(numeric),
        np.array(table.column("text").to_pylist(), dtype=object),
        table.column("viewer").to_numpy().astype(np.int64),
        table.column("author").to_numpy().astype(np.int64),
    )
    labels = {head: table.column(f"label_{head}").to_numpy().astype(np.float32) for head in HEADS}
    at = table.column("t").to_numpy().astype(np.float64) / 1000.0 + EPOCH_S
    return Examples(features, labels, np.array(table.column("feed_request").to_pylist(), dtype=object), at)


def read_examples(shards: Path, *, iids: np.ndarray | None = None) -> Examples:
    """The examples of the shards (those of `iids`, if given) in memory, in
    impression (log id) order."""
    files = shard_files(shards)
    if not files:
        from ranking.training.examples import _empty_examples

        return _empty_examples()
    wanted = None if iids is None else pa.array(np.asarray(iids, dtype=np.int64))
    tables = []
    for path in files:
        table = pq.read_table(path)
        tables.append(table if wanted is None else table.filter(pc.is_in(table["iid"], value_set=wanted)))
    return examples_from_table(pa.concat_tables(tables).sort_by("iid"))


INDEX_COLUMNS = ["iid", "viewer", "author", "t", "feed_request", *(f"label_{head}" for head in HEADS)]


@dataclass(frozen=True)
class ShardIndex:
    """The light columns of every example of the shards, for deciding which
    examples go where (the per-user cap, the split by time) without loading
    features: `examples` has the labels and no numeric columns, and its
    feed requests are integer codes (-1 for none)."""

    iid: np.ndarray
    examples: Examples


def read_index(shards: Path) -> ShardIndex:
    files = shard_files(shards)
    table = pa.concat_tables([pq.read_table(f, columns=INDEX_COLUMNS) for f in files]).sort_by("iid")
    n = table.num_rows
    requests = table.column("feed_request").combine_chunks().dictionary_encode()
    codes = requests.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    dictionary = requests.dictionary.to_pylist()
    if "" in dictionary:
        codes[codes == dictionary.index("")] = -1
    features = FeatureBatch(
        np.zeros((n, 0), np.float32),
        np.zeros(n, dtype=np.int8),  # only counted
        table.column("viewer").to_numpy().astype(np.int64),
        table.column("author").to_numpy().astype(np.int64),
    )
    labels = {head: table.column(f"label_{head}").to_numpy().astype(np.float32) for head in HEADS}
    at = table.column("t").to_numpy().astype(np.float64) / 1000.0 + EPOCH_S
    return ShardIndex(table.column("iid").to_numpy().astype(np.int64), Examples(features, labels, codes, at))


def write_examples(examples: Examples, shards: Path) -> None:
    """Examples held in memory as the builder's shards (what the log would
    have given): for tests and benchmarks that start from examples."""
    n = len(examples)
    columns = {
        "iid": np.arange(n, dtype=np.int64),
        "viewer": examples.features.viewer_id,
        "author": examples.features.author_id,
        "tweet": np.zeros(n, np.int64),
        "t": np.round((np.asarray(examples.at, dtype=np.float64) - EPOCH_S) * 1000).astype(np.int64),
        "feed_request": pa.array(["" if r is None else str(r) for r in examples.feed_request], pa.string()),
        "text": pa.array([str(text) for text in examples.features.text], pa.string()),
    }
    for j, name in enumerate(NUMERIC_FEATURES):
        columns[name] = examples.features.numeric[:, j].astype(np.float64)
    for head in HEADS:
        columns[f"label_{head}"] = np.asarray(examples.labels[head]).astype(np.int64)
    table = pa.table(columns)
    shards.mkdir(parents=True, exist_ok=True)
    per_shard = -(-n // n_shards(n)) if n else 1
    for i, start in enumerate(range(0, n, per_shard)):
        pq.write_table(table.slice(start, per_shard), shards / f"part-{i:05d}.parquet")


def iter_shards(shards: Path) -> Iterator[Examples]:
    for path in shard_files(shards):
        yield examples_from_table(pq.read_table(path))


def features_as_of(
    *, viewer: Sequence[int], tweet: Sequence[int], author: Sequence[int], at: Sequence[datetime]
) -> FeatureBatch:
    """The builder's features of any (viewer, tweet, author) queries, each as
    of its own time `at` (whole milliseconds, as training counts): what
    training computes for an impression of that tweet by that viewer then.
    The same steps, with the queries in place of the log's impressions, on
    an export of what they read, in a temporary directory: memory stays the
    engine's, whatever the size of the log (the skew report's recomputation)."""
    if not len(at):
        return empty_batch()
    queries = pa.table(
        {
            "iid": pa.array(range(len(at)), pa.int64()),
            "viewer": pa.array(viewer, pa.int64()),
            "tweet": pa.array(tweet, pa.int64()),
            "author": pa.array(author, pa.int64()),
            "t": pa.array([_since_epoch(moment, MS) for moment in at], pa.int64()),
        }
    )
    imp = f"""SELECT iid, viewer, tweet, author, t, '' AS feed_request,
                     {_window_start_sql("t", AFFINITY_WINDOW)} AS s30, {_window_start_sql("t", RECENT_WINDOW)} AS s7
                FROM queries"""  # nosec B608
    with tempfile.TemporaryDirectory(prefix="features-") as work:
        work = Path(work)
        export_log(Window(min(at), max(at) + MS), work / "log")
        con = duckdb_connect(work)
        try:
            con.register("queries", queries)
            run_duckdb(con, work / "log", work / "shards", steps=[("imp", imp), *build_steps()[1:]])
        finally:
            con.close()
        built = read_examples(work / "shards")
    if len(built) != len(at):
        raise ValueError("a query's tweet is not in the log")
    return built.features


def built_examples(
    *, since: datetime | None = None, until: datetime | None = None, now: datetime | None = None
) -> Examples:
    """What ranking.training.examples.training_examples returns, built by
    DuckDB in a temporary directory and read back into memory (small logs,
    tests): the same window, the same examples."""
    from ranking.training.examples import _empty_examples

    window = example_window(since=since, until=until, now=now)
    if window is None:
        return _empty_examples()
    with tempfile.TemporaryDirectory(prefix="examples-") as work:
        build_examples(window, Path(work))
        return read_examples(Path(work) / "shards")
