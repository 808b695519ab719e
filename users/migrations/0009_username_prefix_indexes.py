"""People search (users.selectors.users_search) matches a prefix of the
lowered username or display name: `LOWER(col) LIKE 'abc%'`. A plain b-tree
index serves LIKE only in the C collation; text_pattern_ops serves it in any.
PostgreSQL only (an operator class SQLite has not; the embedded default scans
its few rows), so these indexes are made here, not declared on the model."""

from django.db import migrations

INDEXES = {
    "user_username_prefix_idx": "LOWER(username) text_pattern_ops",
    "user_display_name_prefix_idx": "LOWER(display_name) text_pattern_ops",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, expression in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON users_user ({expression})")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("users", "0008_username_rules")]

    operations = [migrations.RunPython(create, drop)]
