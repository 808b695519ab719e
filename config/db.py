"""Database plumbing shared by the apps: inserts that a concurrent duplicate
cannot turn into an error."""

from django.db import connection
from django.db.models import Model


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def insert_new(objs: list[Model]) -> list:
    """Insert the rows (all of one model) in one statement, skipping each one
    a unique constraint says exists already, also when a concurrent request
    inserted it a moment ago: `INSERT ... ON CONFLICT DO NOTHING` (PostgreSQL,
    and SQLite for the embedded default). Returns the primary keys of the rows
    written. Django's bulk_create(ignore_conflicts=True) cannot say which.
    PostgreSQL itself waits for a concurrent insert of the same row to commit
    or roll back and then inserts or skips, so exactly one caller writes it.
    Other violations (a foreign or check constraint) still raise."""
    if not objs:
        return []
    meta = type(objs[0])._meta
    fields = [field for field in meta.local_concrete_fields if field is not meta.auto_field]
    sql = _insert_sql(meta, fields, len(objs)) + f" ON CONFLICT DO NOTHING RETURNING {quote(meta.pk.column)}"
    params = [field.get_db_prep_save(field.pre_save(obj, add=True), connection) for obj in objs for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def insert_rows(model: type[Model], names: list[str], rows: list[tuple]) -> None:
    """Insert rows given as tuples of values of the fields `names`, in one
    statement, with no model instance made or saved: for a hot path's log
    rows (a feed page's served items), where bulk_create's instances and its
    query's compilation cost more than PostgreSQL takes to write them."""
    if not rows:
        return
    fields = [model._meta.get_field(name) for name in names]
    params = [
        field.get_db_prep_save(value, connection) for row in rows for field, value in zip(fields, row, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(model._meta, fields, len(rows)), params)


def _insert_sql(meta, fields: list, n_rows: int) -> str:
    # Identifiers come from the model's own metadata; every value is a parameter.
    columns = ", ".join(quote(field.column) for field in fields)
    values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * n_rows)
    return f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {values}"  # noqa: S608  # nosec B608


def insert_once(model: type[Model], **values) -> Model | None:
    """Insert one row unless one with the same unique values exists (see
    insert_new). Returns the new row, or None when it existed already.

    For state that a toggle creates (a like, a follow): `get_or_create` reads,
    then inserts, then on a unique violation reads again, and that second
    read finds nothing when an undo deleted the row in between, which raised
    IntegrityError (a 500) under rapid toggling."""
    obj = model(**values)
    inserted = insert_new([obj])
    if not inserted:
        return None
    obj.pk = inserted[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj
