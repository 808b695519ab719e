"""Writes on users and the follow graph. Every write goes through here."""

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from config.db import insert_once
from users.models import (
    USERNAME_TAKEN,
    USERNAMES_RESERVED,
    Block,
    Follow,
    FollowEvent,
    Mute,
    MutedWord,
    Notification,
    User,
)
from users.selectors import blocked_between, silencers_among
from users.signals import feed_filters_changed, follows_changed


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
    if blocked_between(user_id=follower.pk, other_id=followee.pk):
        raise ValidationError({"username": "You cannot follow this account."})
    follow = insert_once(Follow, follower=follower, followee=followee, created_at=at or timezone.now())
    if follow is None:
        return False
    FollowEvent.objects.create(
        follower=follower, followee=followee, kind=FollowEvent.Kind.FOLLOW, created_at=follow.created_at
    )
    User.objects.filter(pk=followee.pk).update(follower_count=F("follower_count") + 1)
    notifications_create(
        actor=follower, kind=Notification.Kind.FOLLOW, recipient_ids=[followee.pk], at=follow.created_at
    )
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
        notifications_delete(actor=follower, kind=Notification.Kind.FOLLOW, recipient=followee)
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


# --- Mute, block, muted words -------------------------------------------------


def _not_self(user: User, other: User, verb: str) -> None:
    if user.pk == other.pk:
        raise ValidationError({"username": f"You cannot {verb} yourself."})


def _filters_changed(*user_ids: int) -> None:
    # Their stored ranked lists were built without this filter: `ranking`
    # drops them and asks for new ones once committed (users.signals).
    for user_id in user_ids:
        feed_filters_changed.send(sender=User, user_id=user_id)


@transaction.atomic
def mute_create(*, user: User, muted: User) -> bool:
    """Mute `muted`: their tweets, retweets and notifications leave `user`'s
    feeds and notifications (and search). Idempotent; returns whether this
    call muted them."""
    _not_self(user, muted, "mute")
    if insert_once(Mute, user=user, muted=muted, created_at=timezone.now()) is None:
        return False
    _filters_changed(user.pk)
    return True


@transaction.atomic
def mute_delete(*, user: User, muted: User) -> None:
    """Unmute. Idempotent."""
    removed, _ = Mute.objects.filter(user=user, muted=muted).delete()
    if removed:
        _filters_changed(user.pk)


@transaction.atomic
def block_create(*, user: User, blocked: User) -> bool:
    """Block `blocked`: the follows between them go both ways (through
    follow_delete: counters and the follow log stay right), so do the
    notifications between them; from now on neither can follow the other,
    `blocked` cannot reply to `user` nor notify them, and, logged in, sees
    none of `user`'s tweets; `user` sees none of theirs in feeds or
    notifications. Idempotent; returns whether this call blocked them."""
    _not_self(user, blocked, "block")
    if insert_once(Block, user=user, blocked=blocked, created_at=timezone.now()) is None:
        return False
    follow_delete(follower=user, followee=blocked)
    follow_delete(follower=blocked, followee=user)
    Notification.objects.filter(recipient=user, actor=blocked).delete()
    Notification.objects.filter(recipient=blocked, actor=user).delete()
    _filters_changed(user.pk, blocked.pk)
    return True


@transaction.atomic
def block_delete(*, user: User, blocked: User) -> None:
    """Unblock. Idempotent. Follows removed by the block stay removed."""
    removed, _ = Block.objects.filter(user=user, blocked=blocked).delete()
    if removed:
        _filters_changed(user.pk, blocked.pk)


MUTED_WORD_MAX_CHARS = 50
# Unicode letters, digits and underscores: what a hashtag holds, and nothing a
# regex would read as syntax (users.selectors.muted_text_q builds one from it).
MUTED_WORD_RE = re.compile(r"\w+")
MUTED_WORDS_MAX = 200


def muted_word_clean(word: str) -> str:
    """The word as stored: stripped, without a leading "#" (muting a word
    mutes its hashtag, and the other way round), lower-case; ValidationError
    on `word` unless 1..MUTED_WORD_MAX_CHARS letters, digits or underscores."""
    word = word.strip().removeprefix("#").lower()
    if not word or not MUTED_WORD_RE.fullmatch(word):
        raise ValidationError(
            {"word": "A muted word is one word: letters, digits and underscores, with an optional #."}
        )
    if len(word) > MUTED_WORD_MAX_CHARS:
        raise ValidationError({"word": f"A muted word has at most {MUTED_WORD_MAX_CHARS} characters."})
    return word


@transaction.atomic
def muted_word_create(*, user: User, word: str) -> MutedWord:
    """Mute a word (see muted_word_clean); muting it again returns the first.
    At most MUTED_WORDS_MAX words a person: each costs every feed read a
    little."""
    word = muted_word_clean(word)
    # One at a time per user, so two concurrent adds cannot both pass the cap.
    User.objects.select_for_update(no_key=True).filter(pk=user.pk).first()
    existing = MutedWord.objects.filter(user=user, word=word).first()
    if existing is not None:
        return existing
    if MutedWord.objects.filter(user=user).count() >= MUTED_WORDS_MAX:
        raise ValidationError({"word": f"You can mute at most {MUTED_WORDS_MAX} words."})
    muted = MutedWord.objects.create(user=user, word=word)
    _filters_changed(user.pk)
    return muted


@transaction.atomic
def muted_word_delete(*, user: User, muted_word_id: int) -> bool:
    """Unmute one of `user`'s words. Returns whether there was one (someone
    else's id is none of theirs)."""
    removed, _ = MutedWord.objects.filter(user=user, pk=muted_word_id).delete()
    if removed:
        _filters_changed(user.pk)
    return bool(removed)


# --- Notifications ---------------------------------------------------------------


def notifications_create(
    *, actor: User, kind: str, recipient_ids: Iterable[int], tweet_id: int | None = None, at: datetime | None = None
) -> int:
    """Tell the users of `recipient_ids` that `actor` did `kind` (on `tweet_id`): one row
    each, but none to the actor themselves, nor to anyone who muted or blocked
    the actor or whom the actor blocked. Called by the action, inside its
    transaction. Two queries at most, whatever the number of recipients.
    Returns how many were written."""
    ids = set(recipient_ids) - {actor.pk}
    if not ids:
        return 0
    ids -= silencers_among(actor_id=actor.pk, user_ids=ids)
    at = at or timezone.now()
    Notification.objects.bulk_create(
        [Notification(recipient_id=pk, actor=actor, kind=kind, tweet_id=tweet_id, created_at=at) for pk in sorted(ids)]
    )
    return len(ids)


def notifications_delete(*, actor: User, kind: str, recipient: User | None = None, tweet_id: int | None = None) -> None:
    """Undo: remove the notifications `actor`'s action of `kind` made (to
    `recipient`, on `tweet_id`, when given)."""
    rows = Notification.objects.filter(actor=actor, kind=kind)
    if recipient is not None:
        rows = rows.filter(recipient=recipient)
    if tweet_id is not None:
        rows = rows.filter(tweet_id=tweet_id)
    rows.delete()


def notifications_of_tweet_delete(*, tweet_id: int) -> None:
    """A tweet was deleted: the notifications about it (its mentions, the
    reply it was, the likes and retweets it had) go with it."""
    Notification.objects.filter(tweet_id=tweet_id).delete()


def notifications_read(*, user: User, at: datetime | None = None) -> int:
    """Mark all of `user`'s notifications made up to now (`at`) read. Returns how many changed."""
    at = at or timezone.now()
    return Notification.objects.filter(recipient=user, read_at__isnull=True, created_at__lte=at).update(read_at=at)
