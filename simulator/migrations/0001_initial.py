# The synthetic world's models, moved here from `ranking` (ranking 0003).
# State only: the tables ranking 0001 created keep their names and rows.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('feed', '0001_initial'),
        ('ranking', '0003_world_moves_to_simulator'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='World',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('seed', models.PositiveIntegerField()),
                        ('start', models.DateTimeField()),
                        ('days', models.PositiveIntegerField(default=0)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={'db_table': 'ranking_world'},
                ),
                migrations.CreateModel(
                    name='WorldTweet',
                    fields=[
                        ('tweet', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='feed.tweet')),
                        ('topic', models.PositiveSmallIntegerField()),
                    ],
                    options={'db_table': 'ranking_worldtweet'},
                ),
                migrations.CreateModel(
                    name='WorldUser',
                    fields=[
                        ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to=settings.AUTH_USER_MODEL)),
                        ('index', models.PositiveIntegerField(unique=True)),
                        ('interests', models.JSONField(help_text='topic weights, summing to 1')),
                        ('quality', models.FloatField(help_text="how good this user's tweets are, 0..1")),
                        ('is_spammer', models.BooleanField(default=False)),
                        ('visit_rate', models.FloatField(help_text='chance of opening the feed on a given day')),
                        ('post_rate', models.FloatField(help_text='tweets a day, on average')),
                    ],
                    options={'db_table': 'ranking_worlduser'},
                ),
            ],
        ),
    ]
