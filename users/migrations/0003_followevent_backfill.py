"""The follow log starts with the graph as it stands: one `follow` event per
existing edge, at the time the edge was made. Unfollows from before the log
existed are lost (their rows were deleted); the log is exact from here on."""

from django.db import migrations


def backfill(apps, schema_editor):
    Follow = apps.get_model("users", "Follow")
    FollowEvent = apps.get_model("users", "FollowEvent")
    event, follow = FollowEvent._meta.db_table, Follow._meta.db_table
    # One statement: a large graph never passes through Python.
    schema_editor.execute(
        f"INSERT INTO {event} (follower_id, followee_id, kind, created_at) "  # nosec B608: table names from the models
        f"SELECT follower_id, followee_id, 'follow', created_at FROM {follow}"
    )


def unbackfill(apps, schema_editor):
    apps.get_model("users", "FollowEvent").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("users", "0002_followevent")]

    operations = [migrations.RunPython(backfill, unbackfill)]
