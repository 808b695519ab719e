"""`fetch`: the feed build's hand-written queries, on PostgreSQL or the
embedded SQLite default.

A build reads ~1,000 candidates and their features. Measured per build:
preparing the ORM's querysets cost ~10 ms, and preparing each of ~2,000 ids
through its field ~5 ms more; psycopg loads each timestamptz into an aware
datetime at ~7 µs a row, a float at next to nothing. Hence a few SQL
statements written by hand, with times read as epoch seconds.
"""

import json
import re
from datetime import datetime

from django.db import connection

# The PostgreSQL constructs the statements use that SQLite spells otherwise.
ANY_OF = re.compile(r"= ANY\((%\(\w+\)s)\)")
EPOCH_OF = re.compile(r"EXTRACT\(EPOCH FROM ([\w.]+)\)")


def fetch(sql: str, **params) -> list[tuple]:
    """The rows of a PostgreSQL statement with named parameters. Write list
    membership as `column = ANY(%(ids)s)` with a list parameter (one array
    bound once), epoch seconds as `EXTRACT(EPOCH FROM column)`, and pass
    datetimes as they are. On SQLite those two become json_each and
    julianday."""
    if connection.vendor == "sqlite":
        sql = ANY_OF.sub(r"IN (SELECT value FROM json_each(\1))", sql)
        sql = EPOCH_OF.sub(r"((julianday(\1) - 2440587.5) * 86400.0)", sql)  # Julian day 2440587.5: 1970-01-01
        params = {name: json.dumps(value) if isinstance(value, list) else value for name, value in params.items()}
    params = {
        name: connection.ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value
        for name, value in params.items()
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
