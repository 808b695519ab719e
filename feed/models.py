from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class TweetQuerySet(models.QuerySet):
    def visible(self):
        """Tweets that may be shown: not deleted, and no retweet of a deleted original."""
        return self.filter(deleted_at__isnull=True).exclude(retweet_of__deleted_at__isnull=False)


class Tweet(models.Model):
    """A post. A reply has `reply_to`; a retweet has `retweet_of` and no text of its own."""

    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tweets")
    text = models.CharField(max_length=settings.TWEET_MAX_CHARS, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    retweet_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="retweets")
    like_count = models.PositiveIntegerField(default=0)
    reply_count = models.PositiveIntegerField(default=0)
    retweet_count = models.PositiveIntegerField(default=0)
    # Tweets are soft-deleted: the engagement log keeps pointing at them.
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = TweetQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(retweet_of__isnull=False) | ~Q(text=""), name="tweet_has_text_or_is_retweet"
            ),
            models.CheckConstraint(
                condition=Q(retweet_of__isnull=True) | Q(reply_to__isnull=True),
                name="tweet_retweet_is_not_reply",
            ),
            models.UniqueConstraint(
                fields=["author", "retweet_of"],
                condition=Q(retweet_of__isnull=False, deleted_at__isnull=True),
                name="retweet_once",
            ),
        ]
        indexes = [
            models.Index(fields=["author", "-created_at", "-id"], name="tweet_author_timeline_idx"),
            models.Index(fields=["-created_at", "-id"], name="tweet_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.pk} by {self.author_id}"

    @property
    def original(self) -> "Tweet":
        """What actions on this tweet act on: the original of a retweet, else itself."""
        return self.retweet_of if self.retweet_of_id else self


class Like(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="likes")
    tweet = models.ForeignKey(Tweet, on_delete=models.CASCADE, related_name="likes")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tweet"], name="like_once")]

    def __str__(self) -> str:
        return f"{self.user_id} likes {self.tweet_id}"


class Hide(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hides")
    tweet = models.ForeignKey(Tweet, on_delete=models.CASCADE, related_name="hides")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tweet"], name="hide_once")]

    def __str__(self) -> str:
        return f"{self.user_id} hid {self.tweet_id}"


class Report(models.Model):
    class Reason(models.TextChoices):
        SPAM = "spam", "Spam"
        ABUSE = "abuse", "Abusive or harmful"
        MISLEADING = "misleading", "Misleading"
        OTHER = "other", "Something else"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports")
    tweet = models.ForeignKey(Tweet, on_delete=models.CASCADE, related_name="reports")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    created_at = models.DateTimeField(default=timezone.now)
    resolved = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tweet"], name="report_once")]
        indexes = [models.Index(fields=["resolved", "-created_at"], name="report_queue_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} reported {self.tweet_id}: {self.reason}"


class Engagement(models.Model):
    """The append-only engagement event log: what the model learns from and the
    metric counts. Rows are only ever inserted."""

    class Kind(models.TextChoices):
        IMPRESSION = "impression"
        DWELL = "dwell"
        CLICK = "click"
        LIKE = "like"
        REPLY = "reply"
        RETWEET = "retweet"
        HIDE = "hide"
        REPORT = "report"

    # Kinds a client reports by itself; the others are written by the action
    # that changes state, so the log and the state can never disagree.
    CLIENT_KINDS = (Kind.IMPRESSION, Kind.DWELL, Kind.CLICK)

    # The composite (user, tweet, created_at) index below serves user lookups.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    tweet = models.ForeignKey(Tweet, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    dwell_ms = models.PositiveIntegerField(null=True, blank=True)
    feed_request = models.ForeignKey("FeedRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    position = models.PositiveIntegerField(null=True, blank=True)
    model_version = models.CharField(max_length=64, blank=True)
    # The experiment the user was in when it happened, and their variant in it.
    experiment = models.ForeignKey(
        "ranking.Experiment", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    variant = models.CharField(max_length=32, blank=True)
    # When it happened: what training attributes by and the metric counts. A
    # client's event may arrive long after (feed.services.engagements_log).
    created_at = models.DateTimeField(default=timezone.now)
    # When the server stored it.
    received_at = models.DateTimeField(default=timezone.now)
    # The id a client gave the event (a UUID it made): a resent event is
    # stored once, so a client may retry a batch it is unsure arrived.
    client_event_id = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "client_event_id"],
                condition=Q(client_event_id__isnull=False),
                name="engagement_client_event_once",
            ),
            # An impression of a served item happens once per feed request
            # and position: a repeat (with or without an id) is the same fact.
            models.UniqueConstraint(
                fields=["feed_request", "tweet", "position"],
                condition=Q(kind="impression", feed_request__isnull=False, position__isnull=False),
                name="engagement_impression_once",
            ),
        ]
        indexes = [
            # Training and the metric read the log by time range and kind.
            models.Index(fields=["created_at", "kind"], name="engagement_time_kind_idx"),
            # Attribution joins an impression to what the same user did next.
            models.Index(fields=["user", "tweet", "created_at"], name="engagement_user_tweet_idx"),
            # A viewer's (or their followees') recent reactions of some kinds, as one range scan
            # each: the feed build's text profile and "followees who engaged".
            models.Index(fields=["user", "kind", "created_at"], name="engagement_user_kind_idx"),
            # An experiment's readout reads its events; most events are in none.
            models.Index(
                fields=["experiment", "created_at"],
                condition=Q(experiment__isnull=False),
                name="engagement_experiment_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.user_id}->{self.tweet_id}"


class FeedRequest(models.Model):
    """One load of a home feed, first page and the pages scrolled after it.
    Events a client logs against it are checked to be the viewer's own and
    inherit the model version and variant that produced what was shown."""

    class Mode(models.TextChoices):
        LATEST = "latest"
        RANKED = "ranked"
        # The simulator's ceiling: sorted by the world's hidden truth.
        ORACLE = "oracle"

    id = models.UUIDField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    mode = models.CharField(max_length=16, choices=Mode.choices)
    model_version = models.CharField(max_length=64, blank=True)
    # The experiment the viewer was in, and their variant: who was exposed.
    experiment = models.ForeignKey(
        "ranking.Experiment", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    variant = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the ranked list it served was built: the time its items' features
    # are as of (null for the latest timeline).
    built_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="feed_request_time_idx"),
            models.Index(
                fields=["experiment", "created_at"],
                condition=Q(experiment__isnull=False),
                name="feed_request_experiment_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mode} feed for {self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"


class ServedItem(models.Model):
    """What a feed request served, at which position and score: the server's
    side of the story, beside the impressions clients log for what was seen."""

    feed_request = models.ForeignKey(FeedRequest, on_delete=models.CASCADE, related_name="served")
    tweet = models.ForeignKey(Tweet, on_delete=models.CASCADE, related_name="+", db_index=False)
    position = models.PositiveIntegerField()
    score = models.FloatField(null=True, blank=True)
    # The numeric feature row the ranker scored it with (ranking.spec
    # NUMERIC_FEATURES, float32 values), and the spec's fingerprint: what the
    # feature_skew report compares with training's recomputation. Null and
    # blank for the latest timeline, and when the row was lost with Redis.
    features = models.JSONField(null=True, blank=True)
    feature_spec = models.CharField(max_length=16, blank=True)
    # In an interleaving experiment: the variant whose ranker picked it (its
    # team), which its engagements are credited to.
    team = models.CharField(max_length=32, blank=True)

    def __str__(self) -> str:
        return f"{self.feed_request_id} #{self.position}: {self.tweet_id}"


# --- Counters kept on write (feed.counters) ----------------------------------
# Rollups of the engagement log per UTC day of the event's `created_at`,
# written in the same transaction as the log row they count. A feature over
# a window of whole days is then a sum of a few rows per key, whatever the
# history or the fame behind it. They count log rows, which are never
# deleted: an undone like stays counted, as the log (and training) counts it.


class TweetDayCounts(models.Model):
    """What one tweet received on one UTC day."""

    pk = models.CompositePrimaryKey("tweet", "day")
    tweet = models.ForeignKey(Tweet, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    impressions = models.IntegerField(default=0)
    likes = models.IntegerField(default=0)
    replies = models.IntegerField(default=0)
    retweets = models.IntegerField(default=0)
    negatives = models.IntegerField(default=0)  # hides and reports
    dwells = models.IntegerField(default=0)
    log_dwell = models.FloatField(default=0.0)  # the sum of ln(1 + dwell ms)

    def __str__(self) -> str:
        return f"tweet {self.tweet_id} on {self.day}"


class AuthorDayCounts(models.Model):
    """What one author posted and their tweets received on one UTC day."""

    pk = models.CompositePrimaryKey("author", "day")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    tweets = models.IntegerField(default=0)  # tweets and replies posted, not retweets; deleted ones too
    impressions = models.IntegerField(default=0)
    likes = models.IntegerField(default=0)
    negatives = models.IntegerField(default=0)
    dwells = models.IntegerField(default=0)
    log_dwell = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return f"author {self.author_id} on {self.day}"


class ViewerAuthorDayCounts(models.Model):
    """What one person did to one author's tweets on one UTC day."""

    pk = models.CompositePrimaryKey("viewer", "author", "day")
    viewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    impressions = models.IntegerField(default=0)
    likes = models.IntegerField(default=0)
    replies = models.IntegerField(default=0)
    retweets = models.IntegerField(default=0)
    negatives = models.IntegerField(default=0)
    dwells = models.IntegerField(default=0)
    long_dwells = models.IntegerField(default=0)  # dwells of at least DWELL_LONG_MS when counted
    log_dwell = models.FloatField(default=0.0)

    class Meta:
        indexes = [
            # Deleting an author's rows (a rebuild, a cascade) without scanning every viewer's.
            models.Index(fields=["author", "day"], name="viewer_author_counts_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.viewer_id} on author {self.author_id} on {self.day}"
