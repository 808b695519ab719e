"""Writes on users and the follow graph. Every write goes through here."""

from datetime import datetime

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from users.models import Follow, FollowEvent, User
from users.signals import follows_changed


def user_create(*, username: str, password: str, display_name: str = "", bio: str = "") -> User:
    """Register a user; password rules are Django's AUTH_PASSWORD_VALIDATORS."""
    user = User(username=username, display_name=display_name, bio=bio)
    user.full_clean(exclude=["password"])
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise ValidationError({"username": "A user with that username already exists."}) from exc
    return user


@transaction.atomic
def follow_create(*, follower: User, followee: User, at: datetime | None = None) -> Follow:
    """Follow `followee`. Idempotent: following twice keeps one edge. A new
    edge is also appended to the follow log (FollowEvent). `at`: the
    simulator's simulated time."""
    if follower.pk == followee.pk:
        raise ValidationError({"username": "You cannot follow yourself."})
    follow, created = Follow.objects.get_or_create(
        follower=follower, followee=followee, defaults={"created_at": at or timezone.now()}
    )
    if created:
        FollowEvent.objects.create(
            follower=follower, followee=followee, kind=FollowEvent.Kind.FOLLOW, created_at=follow.created_at
        )
        follows_changed.send(sender=Follow, follower_id=follower.pk)
    return follow


@transaction.atomic
def follow_delete(*, follower: User, followee: User, at: datetime | None = None) -> None:
    """Unfollow. Idempotent: unfollowing someone not followed is a no-op. A
    removed edge is appended to the follow log (FollowEvent)."""
    removed, _ = Follow.objects.filter(follower=follower, followee=followee).delete()
    if removed:
        FollowEvent.objects.create(
            follower=follower, followee=followee, kind=FollowEvent.Kind.UNFOLLOW, created_at=at or timezone.now()
        )
        follows_changed.send(sender=Follow, follower_id=follower.pk)
