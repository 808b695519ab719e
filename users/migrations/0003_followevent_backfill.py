"""The follow log starts with the graph as it stands: one `follow` event per
existing edge, at the time the edge was made. Unfollows from before the log
existed are lost (their rows were deleted); the log is exact from here on.
One statement, so a large graph never passes through Python; plain SQL that
PostgreSQL and SQLite both run."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("users", "0002_followevent")]

    operations = [
        migrations.RunSQL(
            sql=(
                "INSERT INTO users_followevent (follower_id, followee_id, kind, created_at) "
                "SELECT follower_id, followee_id, 'follow', created_at FROM users_follow"
            ),
            reverse_sql="DELETE FROM users_followevent",
        )
    ]
