"""The counters start from the log as it stands: one pass over the
engagement log and the tweets per rollup. A frozen copy of
feed.counters.rebuild_statements as of this migration (the command
`counters_rebuild` runs the current one), in SQL that PostgreSQL and SQLite
both run but for the UTC day of a time."""

from django.conf import settings
from django.db import migrations

BACKFILL = [
    "INSERT INTO feed_tweetdaycounts (tweet_id, day, impressions, likes, replies, retweets, negatives, dwells, log_dwell) SELECT e.tweet_id, {day_e}, SUM(CASE WHEN e.kind IN ('impression') THEN 1 ELSE 0 END), SUM(CASE WHEN e.kind IN ('like') THEN 1 ELSE 0 END), SUM(CASE WHEN e.kind IN ('reply') THEN 1 ELSE 0 END), SUM(CASE WHEN e.kind IN ('retweet') THEN 1 ELSE 0 END), SUM(CASE WHEN e.kind IN ('hide', 'report') THEN 1 ELSE 0 END), SUM(CASE WHEN e.kind IN ('dwell') THEN 1 ELSE 0 END), COALESCE(SUM(CASE WHEN e.kind = 'dwell' THEN LN(e.dwell_ms + 1) END), 0) FROM feed_engagement e JOIN feed_tweet t ON t.id = e.tweet_id WHERE e.kind IN ('impression', 'like', 'reply', 'retweet', 'hide', 'report', 'dwell') GROUP BY e.tweet_id, {day_e}",
    "INSERT INTO feed_viewerauthordaycounts (viewer_id, author_id, day, impressions, likes, replies, retweets, negatives, dwells, log_dwell, long_dwells) SELECT e.user_id, t.author_id, {day_e}, SUM(CASE WHEN e.kind IN ('impression') THEN 1 ELSE 0 END), SUM(CASE WHEN e.kind IN ('like') THEN 1 ELSE 0 END), SUM(CASE WHEN e.kind IN ('reply') THEN 1 ELSE 0 END), SUM(CASE WHEN e.kind IN ('retweet') THEN 1 ELSE 0 END), SUM(CASE WHEN e.kind IN ('hide', 'report') THEN 1 ELSE 0 END), SUM(CASE WHEN e.kind IN ('dwell') THEN 1 ELSE 0 END), COALESCE(SUM(CASE WHEN e.kind = 'dwell' THEN LN(e.dwell_ms + 1) END), 0), SUM(CASE WHEN e.kind = 'dwell' AND e.dwell_ms >= %s THEN 1 ELSE 0 END) FROM feed_engagement e JOIN feed_tweet t ON t.id = e.tweet_id WHERE e.kind IN ('impression', 'like', 'reply', 'retweet', 'hide', 'report', 'dwell') GROUP BY e.user_id, t.author_id, {day_e}",
    "INSERT INTO feed_authordaycounts (author_id, day, tweets, impressions, likes, negatives, dwells, log_dwell) SELECT author_id, day, SUM(tweets), SUM(impressions), SUM(likes), SUM(negatives), SUM(dwells), SUM(log_dwell) FROM ( SELECT t.author_id, {day_e} AS day, 0 AS tweets, SUM(CASE WHEN e.kind IN ('impression') THEN 1 ELSE 0 END) AS impressions, SUM(CASE WHEN e.kind IN ('like') THEN 1 ELSE 0 END) AS likes, SUM(CASE WHEN e.kind IN ('hide', 'report') THEN 1 ELSE 0 END) AS negatives, SUM(CASE WHEN e.kind IN ('dwell') THEN 1 ELSE 0 END) AS dwells, COALESCE(SUM(CASE WHEN e.kind = 'dwell' THEN LN(e.dwell_ms + 1) END), 0) AS log_dwell FROM feed_engagement e JOIN feed_tweet t ON t.id = e.tweet_id WHERE e.kind IN ('impression', 'like', 'hide', 'report', 'dwell') GROUP BY t.author_id, {day_e} UNION ALL SELECT t.author_id, {day_t}, COUNT(*), 0, 0, 0, 0, 0 FROM feed_tweet t WHERE t.retweet_of_id IS NULL GROUP BY t.author_id, {day_t}) rolled GROUP BY author_id, day",
]


def backfill(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "sqlite":  # Django stores SQLite datetimes as UTC text
        day = {"day_e": "date(e.created_at)", "day_t": "date(t.created_at)"}
    else:
        day = {
            "day_e": "CAST((e.created_at AT TIME ZONE 'UTC') AS date)",
            "day_t": "CAST((t.created_at AT TIME ZONE 'UTC') AS date)",
        }
    with connection.cursor() as cursor:
        for sql in BACKFILL:
            sql = sql.format(**day)
            cursor.execute(sql, [settings.DWELL_LONG_MS] if "%s" in sql else None)


def forget(apps, schema_editor):
    for name in ("TweetDayCounts", "AuthorDayCounts", "ViewerAuthorDayCounts"):
        apps.get_model("feed", name).objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("feed", "0007_engagement_counters")]

    operations = [migrations.RunPython(backfill, forget)]
