"""Tweet search (feed.selectors.tweets_search): a GIN index over the text's
`english` tsvector, the very expression the query compiles to (Django's
SearchVector, made by the schema editor from the same objects), so that
PostgreSQL uses it. PostgreSQL only: the embedded SQLite default matches
words as substrings instead. Made here, not declared on the model, because a
model's index is made on every database."""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations

INDEX = GinIndex(SearchVector("text", config="english"), name="tweet_text_search_idx")


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("feed", "Tweet"), INDEX)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("feed", "Tweet"), INDEX)


class Migration(migrations.Migration):
    dependencies = [("feed", "0008_engagement_counters_backfill")]

    operations = [migrations.RunPython(create, drop)]
