"""Writes on users and the follow graph. Every write goes through here."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from users.models import Follow, User
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


def follow_create(*, follower: User, followee: User) -> Follow:
    """Follow `followee`. Idempotent: following twice keeps one edge."""
    if follower.pk == followee.pk:
        raise ValidationError({"username": "You cannot follow yourself."})
    follow, created = Follow.objects.get_or_create(follower=follower, followee=followee)
    if created:
        follows_changed.send(sender=Follow, follower_id=follower.pk)
    return follow


def follow_delete(*, follower: User, followee: User) -> None:
    """Unfollow. Idempotent: unfollowing someone not followed is a no-op."""
    removed, _ = Follow.objects.filter(follower=follower, followee=followee).delete()
    if removed:
        follows_changed.send(sender=Follow, follower_id=follower.pk)
