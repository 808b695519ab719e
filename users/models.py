import re

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.files.storage import default_storage
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from config.converters import USERNAME_MAX_CHARS, USERNAME_PATTERN

USERNAME_RE = re.compile(USERNAME_PATTERN, re.ASCII)
USERNAME_RULE = f"Letters, digits and underscore only, at most {USERNAME_MAX_CHARS} characters."
USERNAME_TAKEN = "A user with that username already exists."
# Names a path of the API or the pages takes for itself (/api/users/me/).
USERNAMES_RESERVED = frozenset({"me"})


class UsernameValidator(RegexValidator):
    # Anchored with \A and \Z: `$` would let a trailing newline through.
    regex = rf"\A{USERNAME_PATTERN}\Z"
    flags = re.ASCII
    message = USERNAME_RULE


class UserQuerySet(models.QuerySet):
    def named(self, username: str) -> "UserQuerySet":
        """The user called `username`, in any case: one lookup on the unique
        index on Lower(username). A string no username can be matches nobody,
        without a query."""
        if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
            return self.none()
        return self.alias(username_lower=Lower("username")).filter(username_lower=username.lower())


class UserManager(DjangoUserManager.from_queryset(UserQuerySet)):
    def get_by_natural_key(self, username):
        # Log-in (ModelBackend) and createsuperuser look users up here:
        # `Demo` logs in as `demo`, as on Twitter and Mastodon.
        return self.named(username).get()


class User(AbstractUser):
    # Unique without regard to case (the Lower constraint below): `DEMO` and
    # `demo` are one name, as a mention or a profile link reads them.
    username = models.CharField(
        max_length=USERNAME_MAX_CHARS,
        unique=True,
        validators=[UsernameValidator()],
        help_text=USERNAME_RULE,
        error_messages={"unique": USERNAME_TAKEN},
    )
    display_name = models.CharField(max_length=50, blank=True)
    bio = models.CharField(max_length=160, blank=True)
    # The follow graph's in-degree, kept by users.services in the follow's own
    # transaction: a feature read as one column, however famous the user.
    follower_count = models.PositiveIntegerField(default=0)
    # When they last read their home feed, to within LAST_FEED_AT_STEP_S
    # (users.services.user_feed_seen): fan-out marks stale only the lists of
    # followers who read lately, found by one indexed query per chunk.
    last_feed_at = models.DateTimeField(null=True, blank=True)
    # The storage name (default_storage) of the avatar users.avatars made
    # from an upload; empty: the generated default (users.avatars).
    avatar = models.CharField(max_length=100, blank=True, editable=False, default="", db_default="")

    objects = UserManager()

    class Meta(AbstractUser.Meta):
        constraints = [
            models.UniqueConstraint(
                Lower("username"), name="username_unique_any_case", violation_error_message=USERNAME_TAKEN
            ),
            # The same rule as the validator, held by the database for every
            # write that skips validation (bulk loads, raw SQL).
            models.CheckConstraint(
                condition=Q(username__regex=rf"^{USERNAME_PATTERN}$"),
                name="username_chars",
                violation_error_message=USERNAME_RULE,
            ),
        ]

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username

    @property
    def avatar_url(self) -> str:
        """The uploaded avatar in the media storage, else the generated one:
        no query, for every card of a page."""
        if self.avatar:
            return default_storage.url(self.avatar)
        return reverse("avatar-default", args=[self.username])


class Follow(models.Model):
    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following_set")
    followee = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follower_set")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_once"),
            models.CheckConstraint(condition=~Q(follower=F("followee")), name="follow_not_self"),
        ]
        indexes = [
            # "whom do I follow" is served by the unique constraint's index;
            # "who follows me", newest first, needs its own.
            models.Index(fields=["followee", "-created_at"], name="follow_followee_idx"),
            models.Index(fields=["follower", "-created_at"], name="follow_follower_idx"),
            # Fan-out walks an author's followers in id order, a chunk at a time.
            models.Index(fields=["followee", "follower"], name="follow_followee_follower_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.follower_id} -> {self.followee_id}"


class FollowEvent(models.Model):
    """The append-only log of follows and unfollows. The Follow table is the
    graph now; this log is the graph as of any time, which the training
    features need: an unfollow deletes its Follow row, and must not change
    the features of impressions served before it. Written by users.services
    in the same transaction as the edge it records; rows are only inserted."""

    class Kind(models.TextChoices):
        FOLLOW = "follow"
        UNFOLLOW = "unfollow"

    # The composite (follower, followee, created_at) index below serves follower lookups.
    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+", db_index=False)
    followee = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # Training reads the log up to a time.
            models.Index(fields=["created_at"], name="follow_event_time_idx"),
            # One edge's history, in order.
            models.Index(fields=["follower", "followee", "created_at"], name="follow_event_edge_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.follower_id} -> {self.followee_id}"


class Mute(models.Model):
    """`user` no longer wants to see `muted`: not in their feeds, notifications
    or search. `muted` is not told and can still follow and reply."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    muted = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "muted"], name="mute_once"),
            models.CheckConstraint(condition=~Q(user=F("muted")), name="mute_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} mutes {self.muted_id}"


class Block(models.Model):
    """`user` blocked `blocked`: a mute, and more: no follows either way, and
    `blocked` can neither follow, reply to, mention-notify nor see `user`
    (users.services.block_create)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "blocked"], name="block_once"),
            models.CheckConstraint(condition=~Q(user=F("blocked")), name="block_not_self"),
        ]
        indexes = [
            # "Who blocked me": every read of what the viewer may see asks it.
            models.Index(fields=["blocked", "user"], name="block_blocked_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} blocks {self.blocked_id}"


class MutedWord(models.Model):
    """A word `user` does not want to see: a tweet holding it as a whole word
    or a hashtag, in any case, leaves their feeds and notifications. Stored
    lower-case, without a leading "#", letters, digits and underscores only
    (users.services.muted_word_create), so it is safe inside a regex."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    word = models.CharField(max_length=50)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "word"], name="muted_word_once")]

    def __str__(self) -> str:
        return f"{self.user_id} mutes {self.word!r}"


class Notification(models.Model):
    """Something someone did that concerns `recipient`: written by the action
    itself (users.services, feed.services), in its transaction, and deleted
    when the action is undone. One row per action; likes and retweets of one
    tweet are grouped when read (users.selectors.notification_groups).

    Here rather than in `feed`: a follow (users) notifies too, and `users`
    cannot import `feed`. The tweet is named by a string reference.
    `tweet`: for a like or retweet, the tweet liked or retweeted; for a reply
    or mention, the reply or the tweet that mentions; none for a follow."""

    class Kind(models.TextChoices):
        MENTION = "mention"
        REPLY = "reply"
        LIKE = "like"
        RETWEET = "retweet"
        FOLLOW = "follow"

    GROUPED_KINDS = (Kind.LIKE, Kind.RETWEET)

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+", db_index=False)
    actor = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    tweet = models.ForeignKey("feed.Tweet", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(recipient=F("actor")), name="notification_not_self"),
        ]
        indexes = [
            # The list, newest first; undo finds its row by (recipient, kind, ...) too.
            models.Index(fields=["recipient", "-created_at"], name="notification_list_idx"),
            # The bell: the unread ones, a few, however long the history.
            models.Index(fields=["recipient"], condition=Q(read_at__isnull=True), name="notification_unread_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.actor_id} -> {self.recipient_id}"
