"""Writes on users and the follow graph. Every write goes through here."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from config.db import insert_once
from users.models import USERNAME_TAKEN, USERNAMES_RESERVED, Follow, FollowEvent, User
from users.signals import follows_changed


def user_create(*, username: str, password: str, display_name: str = "", bio: str = "") -> User:
    """Register a user. The username: letters, digits and underscore, 1 to 30
    characters, not taken in any case (`Alice` is taken by `alice`); the
    database's unique index on Lower(username) settles a race between two
    sign-ups. Password rules are Django's AUTH_PASSWORD_VALIDATORS."""
    user = User(username=username, display_name=display_name, bio=bio)
    # The case-insensitive uniqueness is checked below, as a username error
    # (model validation would report the constraint as a form-wide one).
    user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    if username.lower() in USERNAMES_RESERVED or User.objects.named(username).exists():
        raise ValidationError({"username": USERNAME_TAKEN})
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise ValidationError({"username": USERNAME_TAKEN}) from exc
    return user


def user_profile_update(*, user: User, display_name: str | None = None, bio: str | None = None) -> User:
    """Change what `user` shows of themselves (None: leave as it is), by the
    model's rules: a display name of at most 50 characters, a bio of at
    most 160. A ValidationError names each field it refuses; nothing is
    written then."""
    changes = {name: value for name, value in {"display_name": display_name, "bio": bio}.items() if value is not None}
    errors = {}
    for name, value in changes.items():
        try:
            changes[name] = User._meta.get_field(name).clean(value, user)
        except ValidationError as exc:
            errors[name] = exc.messages
    if errors:
        raise ValidationError(errors)
    if changes:
        User.objects.filter(pk=user.pk).update(**changes)
        for name, value in changes.items():
            setattr(user, name, value)
    return user


@transaction.atomic
def follow_create(*, follower: User, followee: User, at: datetime | None = None) -> bool:
    """Follow `followee`. Idempotent and race-free: following twice keeps one
    edge, and of concurrent follows one inserts it, appends it to the follow
    log (FollowEvent) and counts it in followee.follower_count, the others do
    nothing. Returns whether this call made the edge. `at`: the simulator's
    simulated time."""
    if follower.pk == followee.pk:
        raise ValidationError({"username": "You cannot follow yourself."})
    follow = insert_once(Follow, follower=follower, followee=followee, created_at=at or timezone.now())
    if follow is None:
        return False
    FollowEvent.objects.create(
        follower=follower, followee=followee, kind=FollowEvent.Kind.FOLLOW, created_at=follow.created_at
    )
    User.objects.filter(pk=followee.pk).update(follower_count=F("follower_count") + 1)
    follows_changed.send(sender=Follow, follower_id=follower.pk)
    return True


@transaction.atomic
def follow_delete(*, follower: User, followee: User, at: datetime | None = None) -> None:
    """Unfollow. Idempotent: unfollowing someone not followed is a no-op. A
    removed edge is appended to the follow log (FollowEvent) and taken off
    followee.follower_count, once: the delete's row count decides which of
    concurrent unfollows does it."""
    removed, _ = Follow.objects.filter(follower=follower, followee=followee).delete()
    if removed:
        FollowEvent.objects.create(
            follower=follower, followee=followee, kind=FollowEvent.Kind.UNFOLLOW, created_at=at or timezone.now()
        )
        User.objects.filter(pk=followee.pk).update(follower_count=F("follower_count") - 1)
        follows_changed.send(sender=Follow, follower_id=follower.pk)


def follower_counts_recount(*, user_ids: list[int] | None = None) -> None:
    """Set follower_count from the Follow table, for every user or those of
    `user_ids`: after a bulk load of the graph that bypassed follow_create
    (the simulator's world, a benchmark), or to repair. One statement."""
    if user_ids is not None and not user_ids:
        return
    user, follow = User._meta.db_table, Follow._meta.db_table
    scope = f" WHERE id IN ({', '.join(str(int(pk)) for pk in user_ids)})" if user_ids is not None else ""
    with connection.cursor() as cursor:
        # Table names from the models, integer ids: nothing from outside.
        cursor.execute(
            f"UPDATE {user} SET follower_count = "  # noqa: S608  # nosec B608
            f"(SELECT COUNT(*) FROM {follow} f WHERE f.followee_id = {user}.id){scope}"
        )


def user_feed_seen(*, user: User, at: datetime | None = None) -> None:
    """`user` read their home feed: keep when (User.last_feed_at), for
    fan-out, but write it only when it is older than LAST_FEED_AT_STEP_S, so
    that a reader scrolling costs no write per request. `at`: the
    simulator's simulated time."""
    now = at or timezone.now()
    if user.last_feed_at is not None and user.last_feed_at > now - timedelta(seconds=settings.LAST_FEED_AT_STEP_S):
        return
    User.objects.filter(pk=user.pk).update(last_feed_at=now)
    user.last_feed_at = now
