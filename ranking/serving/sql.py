"""The feed build's hand-written SQL: statements written against the models'
names, and `fetch`, which runs them on PostgreSQL or the embedded SQLite.

A build reads ~1,000 candidates and their features. Measured per build:
preparing the ORM's querysets cost ~10 ms, and preparing each of ~2,000 ids
through its field ~5 ms more; psycopg loads each timestamptz into an aware
datetime at ~7 µs a row, a float at next to nothing. Hence a few SQL
statements written by hand, with times read as epoch seconds.

The statements name tables, columns and engagement kinds through `statement`,
never as literals: a renamed field in `feed` or `users` fails here at import,
not in a worker at run time.
"""

import json
import re
from datetime import date, datetime

from django.db import connection
from django.db.models import Model

from feed.models import AuthorDayCounts, Engagement, Hide, Report, Tweet, TweetDayCounts, ViewerAuthorDayCounts
from users.models import Block, Follow, FollowEvent, Mute, MutedWord, User

# The PostgreSQL constructs the statements use that SQLite spells otherwise.
ANY_OF = re.compile(r"= ANY\((%\(\w+\)s)\)")
EPOCH_OF = re.compile(r"EXTRACT\(EPOCH FROM ([\w.]+)\)")


class Table:
    """A model as SQL names: the table as `{name}`, a field's column as
    `{name.field}` (`{tweet.author}` is `author_id`). An unknown field
    raises FieldDoesNotExist when the statement is made."""

    def __init__(self, model: type[Model]):
        self._meta = model._meta

    def __format__(self, spec: str) -> str:
        return self._meta.db_table

    def __getattr__(self, field: str) -> str:
        return self._meta.get_field(field).column


class Kinds:
    """Engagement kinds as quoted SQL literals: `{kind.like}` is `'like'`."""

    def __getattr__(self, name: str) -> str:
        return f"'{Engagement.Kind[name.upper()].value}'"


NAMES = {
    "tweet": Table(Tweet),
    "engagement": Table(Engagement),
    "hide": Table(Hide),
    "report": Table(Report),
    "follow": Table(Follow),
    "follow_event": Table(FollowEvent),
    "tweet_counts": Table(TweetDayCounts),
    "author_counts": Table(AuthorDayCounts),
    "pair_counts": Table(ViewerAuthorDayCounts),
    "user": Table(User),
    "mute": Table(Mute),
    "block": Table(Block),
    "muted_word": Table(MutedWord),
    "kind": Kinds(),
}


def statement(template: str, **fragments: str) -> str:
    """`template` with its `{table}`, `{table.field}` and `{kind.name}`
    placeholders filled from the models (NAMES), and any `{fragment}` with
    an SQL fragment made by `statement` too. Parameters stay `%(name)s`."""
    return template.format(**NAMES, **fragments)


def fetch(sql: str, **params) -> list[tuple]:
    """The rows of a PostgreSQL statement with named parameters. Write list
    membership as `column = ANY(%(ids)s)` with a list parameter (one array
    bound once), epoch seconds as `EXTRACT(EPOCH FROM column)`, and pass
    datetimes and dates as they are. On SQLite those two become json_each
    and julianday, and a date its ISO text, as Django stores it there."""
    if connection.vendor == "sqlite":
        sql = ANY_OF.sub(r"IN (SELECT value FROM json_each(\1))", sql)
        sql = EPOCH_OF.sub(r"((julianday(\1) - 2440587.5) * 86400.0)", sql)  # Julian day 2440587.5: 1970-01-01
        params = {
            name: json.dumps(value)
            if isinstance(value, list)
            else value.isoformat()
            if isinstance(value, date) and not isinstance(value, datetime)
            else value
            for name, value in params.items()
        }
    params = {
        name: connection.ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value
        for name, value in params.items()
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
