"""The synthetic world's tables: its seed and age, and the hidden truth of its
people and tweets. Kept apart from the product tables and never a ranking
feature: the ranker only ever sees the engagement log."""

from django.conf import settings
from django.db import models


class World(models.Model):
    """The synthetic world the simulator keeps extending: its seed, its first
    simulated day and how many days it has lived. One row per database."""

    seed = models.PositiveIntegerField()
    start = models.DateTimeField()
    days = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ranking_world"  # where it lived first: moving the model moved no data

    def __str__(self) -> str:
        return f"world seed={self.seed} days={self.days}"


class WorldUser(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+")
    # The user's place in the world, stable across databases (unlike ids):
    # hidden quantities are derived from it so a seed gives the same world.
    index = models.PositiveIntegerField(unique=True)
    interests = models.JSONField(help_text="topic weights, summing to 1")
    quality = models.FloatField(help_text="how good this user's tweets are, 0..1")
    is_spammer = models.BooleanField(default=False)
    visit_rate = models.FloatField(help_text="chance of opening the feed on a given day")
    post_rate = models.FloatField(help_text="tweets a day, on average")

    class Meta:
        db_table = "ranking_worlduser"

    def __str__(self) -> str:
        return f"world user {self.user_id}"


class WorldTweet(models.Model):
    tweet = models.OneToOneField("feed.Tweet", primary_key=True, on_delete=models.CASCADE, related_name="+")
    topic = models.PositiveSmallIntegerField()

    class Meta:
        db_table = "ranking_worldtweet"

    def __str__(self) -> str:
        return f"world tweet {self.tweet_id} topic {self.topic}"
