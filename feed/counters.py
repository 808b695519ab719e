"""The engagement counters kept on write (feed.models TweetDayCounts,
AuthorDayCounts, ViewerAuthorDayCounts): per key and UTC day of the event,
upserted in the transaction of the action that logs the event, so a counter
and the log can never disagree. Read by the feed build's features
(ranking.serving.features), which sum a window of whole days per key.

Why PostgreSQL and not Redis: the counters are exact for the same reason
the log is, one transaction, with no rebuild to race and nothing lost with
Redis; training recomputes the same values from the log as of any time.
The price is a row lock per (tweet, day) while a like commits, which
serialises the likes of one viral tweet (README, "Counters kept on write").

`counters_rebuild` recomputes them from the log, for data that bypassed the
services (a bulk load, a benchmark's world) or a changed DWELL_LONG_MS.
`counters_prune` drops the days no feature window reaches any more.
"""

# Every statement here is built from the models' own table and column names,
# the kinds' own values and integer ids; values go in as parameters.
# ruff: noqa: S608

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import Model

from feed.models import AuthorDayCounts, Engagement, Tweet, TweetDayCounts, ViewerAuthorDayCounts

Kind = Engagement.Kind

# Which counter column each kind of event adds one to. Dwells add to
# `dwells` and `log_dwell` (and `long_dwells` per viewer and author) instead.
TWEET_KINDS = {
    Kind.IMPRESSION: "impressions",
    Kind.LIKE: "likes",
    Kind.REPLY: "replies",
    Kind.RETWEET: "retweets",
    Kind.HIDE: "negatives",
    Kind.REPORT: "negatives",
}
AUTHOR_KINDS = {
    Kind.IMPRESSION: "impressions",
    Kind.LIKE: "likes",
    Kind.HIDE: "negatives",
    Kind.REPORT: "negatives",
}
VIEWER_AUTHOR_KINDS = TWEET_KINDS


class CountedEvent(NamedTuple):
    """What the counters need of one engagement row."""

    user_id: int
    tweet_id: int
    author_id: int
    kind: str
    dwell_ms: int | None
    created_at: datetime


def day_of(at: datetime) -> date:
    """The UTC day an event at `at` is counted on."""
    return at.astimezone(UTC).date()


def _value_columns(model: type[Model], keys: tuple[str, ...]) -> list[str]:
    return [f.column for f in model._meta.local_concrete_fields if f.name not in keys and f.column not in keys]


def _upsert(model: type[Model], keys: tuple[str, ...], deltas: dict[tuple, dict[str, float]]) -> None:
    """Add `deltas` (key values -> column -> amount) to the model's rows,
    creating missing ones: one INSERT ... ON CONFLICT DO UPDATE (PostgreSQL,
    and SQLite for the embedded default). Rows go in key order, so two
    transactions counting the same keys lock them in the same order and
    never deadlock."""
    if not deltas:
        return
    meta = model._meta
    key_columns = [meta.get_field(k).column for k in keys]
    values = _value_columns(model, tuple(key_columns))
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = ", ".join(quote(c) for c in (*key_columns, *values))
    row = "(" + ", ".join(["%s"] * (len(key_columns) + len(values))) + ")"
    updates = ", ".join(f"{quote(c)} = {table}.{quote(c)} + EXCLUDED.{quote(c)}" for c in values)
    conflict = ", ".join(quote(c) for c in key_columns)
    ordered = sorted(deltas.items())
    # Identifiers come from the model's own metadata; every value is a parameter.
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(ordered))} "  # nosec B608
        f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    )
    params = []
    for key, amounts in ordered:
        params.extend(key)
        params.extend(amounts.get(c, 0) for c in values)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def engagements_counted(events: Iterable[CountedEvent], *, posted: Iterable[Tweet] = ()) -> None:
    """Count logged engagement rows into the three rollups, and `posted`
    tweets or replies (not retweets) on their authors' days: call it in the
    transaction that inserted them, with exactly the rows it inserted. Three
    statements at most, whatever the number of events. Once per transaction:
    every transaction then locks counter rows in one order (tweets, authors,
    pairs; each by key), so no two of them wait on each other in a cycle.
    Deleting a tweet later does not uncount it: the feature counts what was
    posted."""
    tweets: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    authors: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    pairs: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for tweet in posted:
        authors[tweet.author_id, day_of(tweet.created_at)]["tweets"] += 1
    for event in events:
        day = day_of(event.created_at)
        tweet, author = tweets[event.tweet_id, day], authors[event.author_id, day]
        pair = pairs[event.user_id, event.author_id, day]
        if event.kind == Kind.DWELL:
            ms = event.dwell_ms or 0
            log_dwell = math.log(ms + 1)  # as the log's recount, LN(ms + 1), computes it
            for counts in (tweet, author, pair):
                counts["dwells"] += 1
                counts["log_dwell"] += log_dwell
            pair["long_dwells"] += ms >= settings.DWELL_LONG_MS
            continue
        for counts, kinds in ((tweet, TWEET_KINDS), (author, AUTHOR_KINDS), (pair, VIEWER_AUTHOR_KINDS)):
            if event.kind in kinds:
                counts[kinds[event.kind]] += 1
    # A click counts nowhere: no empty rows for it.
    _upsert(TweetDayCounts, ("tweet", "day"), {k: v for k, v in tweets.items() if v})
    _upsert(AuthorDayCounts, ("author", "day"), {k: v for k, v in authors.items() if v})
    _upsert(ViewerAuthorDayCounts, ("viewer", "author", "day"), {k: v for k, v in pairs.items() if v})


def engagements_counted_by_id(ids: list[int]) -> None:
    """engagements_counted for rows known by their ids (a client's batch
    whose duplicates were skipped): one query reads them with their authors."""
    if not ids:
        return
    rows = Engagement.objects.filter(pk__in=ids).values_list(
        "user_id", "tweet_id", "tweet__author_id", "kind", "dwell_ms", "created_at"
    )
    engagements_counted(CountedEvent(*row) for row in rows)


# --- Rebuild from the log ------------------------------------------------------


def _day_sql(column: str) -> str:
    if connection.vendor == "sqlite":  # Django stores SQLite datetimes as UTC text
        return f"date({column})"
    return f"CAST(({column} AT TIME ZONE 'UTC') AS date)"


def _sum_if(kinds: Iterable[str], kind_column: str = "e.kind") -> str:
    listed = ", ".join(f"'{k}'" for k in kinds)  # the model's own kind values, not input
    return f"SUM(CASE WHEN {kind_column} IN ({listed}) THEN 1 ELSE 0 END)"


def _counted_sums(kinds: dict[str, str], *, long_dwells: bool = False) -> tuple[list[str], list[str]]:
    """Column names and SUM expressions over `feed_engagement e` for a rollup."""
    columns, sums = [], []
    for column in dict.fromkeys(kinds.values()):
        columns.append(column)
        sums.append(_sum_if([k for k, c in kinds.items() if c == column]))
    columns += ["dwells", "log_dwell"]
    sums += [_sum_if([Kind.DWELL]), "COALESCE(SUM(CASE WHEN e.kind = 'dwell' THEN LN(e.dwell_ms + 1) END), 0)"]
    if long_dwells:
        columns.append("long_dwells")
        sums.append("SUM(CASE WHEN e.kind = 'dwell' AND e.dwell_ms >= %(long_ms)s THEN 1 ELSE 0 END)")
    return columns, sums


COUNTER_MODELS = (TweetDayCounts, AuthorDayCounts, ViewerAuthorDayCounts)


def counters_prune(*, before: date) -> int:
    """Delete the day rows of the days before `before`, one statement a
    table; returns how many. The caller knows which days the features still
    read (ranking.serving.features.counters_prune_unread)."""
    return sum(model.objects.filter(day__lt=before).delete()[0] for model in COUNTER_MODELS)


def counters_rebuild(*, author_ids: list[int] | None = None) -> None:
    """Recompute the rollups from the engagement log and the tweets: all of
    them, or those of `author_ids`' tweets only. Run it in a transaction (the
    management command `counters_rebuild` does); the log is the truth."""
    with connection.cursor() as cursor:
        for sql in rebuild_statements(author_ids=author_ids):
            # Built from the models' table names, kind values and integer ids; DWELL_LONG_MS is a parameter.
            cursor.execute(sql, {"long_ms": settings.DWELL_LONG_MS} if "%(long_ms)s" in sql else None)


def rebuild_statements(*, author_ids: list[int] | None = None) -> list[str]:
    """The statements of counters_rebuild, in order."""
    engagement, tweet = Engagement._meta.db_table, Tweet._meta.db_table
    quote = connection.ops.quote_name
    scoped = author_ids is not None
    ids = ", ".join(str(int(a)) for a in author_ids or [0])  # integers only: safe to inline
    only = f"t.author_id IN ({ids})" if scoped else "1 = 1"
    day = _day_sql("e.created_at")
    counted = f"e.kind IN ({', '.join(repr(str(k)) for k in (*TWEET_KINDS, Kind.DWELL))})"
    statements = []
    for model, where in (
        (TweetDayCounts, f"tweet_id IN (SELECT t.id FROM {tweet} t WHERE {only})"),  # nosec B608
        (AuthorDayCounts, f"author_id IN ({ids})"),
        (ViewerAuthorDayCounts, f"author_id IN ({ids})"),
    ):
        statements.append(f"DELETE FROM {quote(model._meta.db_table)}" + (f" WHERE {where}" if scoped else ""))  # nosec B608
    columns, sums = _counted_sums(TWEET_KINDS)
    statements.append(
        f"INSERT INTO {TweetDayCounts._meta.db_table} (tweet_id, day, {', '.join(columns)}) "  # nosec B608
        f"SELECT e.tweet_id, {day}, {', '.join(sums)} FROM {engagement} e JOIN {tweet} t ON t.id = e.tweet_id "
        f"WHERE {counted} AND {only} GROUP BY e.tweet_id, {day}"
    )
    columns, sums = _counted_sums(VIEWER_AUTHOR_KINDS, long_dwells=True)
    statements.append(
        f"INSERT INTO {ViewerAuthorDayCounts._meta.db_table} (viewer_id, author_id, day, {', '.join(columns)}) "  # nosec B608
        f"SELECT e.user_id, t.author_id, {day}, {', '.join(sums)} "
        f"FROM {engagement} e JOIN {tweet} t ON t.id = e.tweet_id "
        f"WHERE {counted} AND {only} GROUP BY e.user_id, t.author_id, {day}"
    )
    columns, sums = _counted_sums(AUTHOR_KINDS)
    author_counted = f"e.kind IN ({', '.join(repr(str(k)) for k in (*AUTHOR_KINDS, Kind.DWELL))})"
    posted_day = _day_sql("t.created_at")
    named = zip(columns, sums, strict=True)
    statements.append(
        f"INSERT INTO {AuthorDayCounts._meta.db_table} (author_id, day, tweets, {', '.join(columns)}) "  # nosec B608
        f"SELECT author_id, day, SUM(tweets), {', '.join(f'SUM({c})' for c in columns)} FROM ("
        f" SELECT t.author_id, {day} AS day, 0 AS tweets, {', '.join(f'{s} AS {c}' for c, s in named)}"
        f" FROM {engagement} e JOIN {tweet} t ON t.id = e.tweet_id"
        f" WHERE {author_counted} AND {only} GROUP BY t.author_id, {day}"
        f" UNION ALL"
        f" SELECT t.author_id, {posted_day}, COUNT(*), {', '.join(['0'] * len(columns))}"
        f" FROM {tweet} t WHERE t.retweet_of_id IS NULL AND {only} GROUP BY t.author_id, {posted_day}"
        f") rolled GROUP BY author_id, day"
    )
    return statements
