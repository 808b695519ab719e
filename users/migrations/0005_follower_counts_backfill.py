"""follower_count starts from the graph as it stands. Plain SQL that
PostgreSQL and SQLite both run."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("users", "0004_follower_counts")]

    operations = [
        migrations.RunSQL(
            sql=(
                "UPDATE users_user SET follower_count = "
                "(SELECT COUNT(*) FROM users_follow f WHERE f.followee_id = users_user.id)"
            ),
            reverse_sql=migrations.RunSQL.noop,
        )
    ]
