"""Reads on users and the follow graph."""

import re
from collections.abc import Iterable

from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat, Lower
from django.db.models.lookups import IRegex

from users.models import Block, Follow, Mute, MutedWord, Notification, User


def _edge_count(side: str) -> Coalesce:
    # Correlated subqueries, not two joins: joining followers and followees at
    # once multiplies rows, which hurts exactly on the most-followed accounts.
    edges = Follow.objects.filter(**{side: OuterRef("pk")}).values(side).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(edges, output_field=IntegerField()), 0)


def user_profiles(*, viewer: User | None) -> QuerySet[User]:
    """Active users annotated with their follow counts and whether `viewer` follows them."""
    queryset = User.objects.filter(is_active=True).annotate(
        followers_count=_edge_count("followee"),
        following_count=_edge_count("follower"),
    )
    if viewer is not None and viewer.is_authenticated:
        following = Follow.objects.filter(follower=viewer, followee=OuterRef("pk"))
        return queryset.annotate(is_following=Exists(following))
    return queryset


def usernames_existing(*, names: Iterable[str]) -> dict[str, str]:
    """Of `names` (any case), those of active users: each, lowercased, to the
    user's username. One query on the Lower(username) index, none for no names."""
    lowered = {name.lower() for name in names}
    if not lowered:
        return {}
    found = (
        User.objects.filter(is_active=True)
        .alias(username_lower=Lower("username"))
        .filter(username_lower__in=lowered)
        .values_list("username", flat=True)
    )
    return {username.lower(): username for username in found}


def users_search(*, viewer: User | None, query: str) -> QuerySet[User]:
    """People whose username or display name starts with `query` (any case;
    a leading @ is ignored), as profiles (see `user_profiles`), unordered.
    On PostgreSQL each prefix is a range scan of an index on the lowered
    column (users.0009). The one place people are searched: what a viewer
    must not find is left out here."""
    prefix = query.strip().removeprefix("@").lower()
    if not prefix:
        return User.objects.none()
    people = (
        user_profiles(viewer=viewer)
        .alias(username_lower=Lower("username"), display_name_lower=Lower("display_name"))
        .filter(Q(username_lower__startswith=prefix) | Q(display_name_lower__startswith=prefix))
    )
    if viewer is not None and viewer.is_authenticated:
        # Nobody the viewer muted or blocked, nor anyone who blocked them.
        people = people.exclude(silenced_q(viewer, "pk"))
    return people


def follows_anyone(*, user: User) -> bool:
    return Follow.objects.filter(follower=user).exists()


def followers_of(*, user: User) -> QuerySet[User]:
    """Who follows `user`, annotated with `followed_at`."""
    return User.objects.filter(is_active=True, following_set__followee=user).annotate(
        followed_at=F("following_set__created_at")
    )


def following_of(*, user: User) -> QuerySet[User]:
    """Whom `user` follows, annotated with `followed_at`."""
    return User.objects.filter(is_active=True, follower_set__follower=user).annotate(
        followed_at=F("follower_set__created_at")
    )


def profiles_in_order(*, viewer: User | None, user_ids: list[int]) -> list[User]:
    """These users' profiles (see `user_profiles`), in this order: one query."""
    found = user_profiles(viewer=viewer).in_bulk(user_ids)
    return [found[pk] for pk in user_ids if pk in found]


def who_to_follow(*, viewer: User, limit: int) -> list[User]:
    """Accounts to suggest to `viewer`, as profiles: those most followed by
    the people `viewer` follows, then, to fill up (say, for someone who
    follows nobody yet), the most followed accounts. Never `viewer`, anyone
    `viewer` already follows, nor anyone they muted or blocked or who
    blocked them. Three queries."""
    followed = Follow.objects.filter(follower=viewer).values("followee_id")
    ids = list(
        Follow.objects.filter(follower__in=followed, followee__is_active=True)
        .exclude(followee=viewer)
        .exclude(followee__in=followed)
        .exclude(silenced_q(viewer, "followee_id"))
        .values("followee")
        .annotate(n=Count("pk"))
        .order_by("-n", "followee")
        .values_list("followee", flat=True)[:limit]
    )
    if len(ids) < limit:
        ids += (
            User.objects.filter(is_active=True)
            .exclude(pk=viewer.pk)
            .exclude(pk__in=followed)
            .exclude(pk__in=ids)
            .exclude(silenced_q(viewer, "pk"))
            .annotate(n=Count("follower_set"))
            .order_by("-n", "-pk")
            .values_list("pk", flat=True)[: limit - len(ids)]
        )
    return profiles_in_order(viewer=viewer, user_ids=ids)


# --- Mute and block: who and what a viewer does not see -------------------------


def _silenced_subqueries(viewer_id) -> tuple[QuerySet, QuerySet, QuerySet]:
    """Whom the viewer muted, whom they blocked, who blocked them: three id
    subqueries. `viewer_id` may be an OuterRef."""
    return (
        Mute.objects.filter(user_id=viewer_id).values_list("muted_id", flat=True),
        Block.objects.filter(user_id=viewer_id).values_list("blocked_id", flat=True),
        Block.objects.filter(blocked_id=viewer_id).values_list("user_id", flat=True),
    )


def silenced_user_ids(viewer: User) -> set[int]:
    """The people `viewer` does not see: those they muted or blocked, and
    those who blocked them. One query. Empty for someone logged out."""
    if viewer is None or not viewer.is_authenticated:
        return set()
    muted, blocked, blockers = _silenced_subqueries(viewer.pk)
    return set(muted.union(blocked, blockers))


def silenced_q(viewer: User, field: str) -> Q:
    """A condition true when `field` (a user id, or a user) names someone
    `viewer` does not see (silenced_user_ids): to exclude, inside the
    caller's query (no query of its own). A null `field` matches nothing."""
    muted, blocked, blockers = _silenced_subqueries(viewer.pk)
    return Q(**{f"{field}__in": muted}) | Q(**{f"{field}__in": blocked}) | Q(**{f"{field}__in": blockers})


def blocked_q(viewer: User, field: str) -> Q:
    """A condition true when `field` names someone who blocked `viewer`: what
    a blocked person must not see. Nothing, for someone logged out."""
    if viewer is None or not viewer.is_authenticated:
        return Q(pk__in=[])
    return Q(**{f"{field}__in": Block.objects.filter(blocked_id=viewer.pk).values("user_id")})


def blocked_between(*, user_id: int, other_id: int) -> bool:
    """Whether either blocked the other. One query."""
    return Block.objects.filter(
        Q(user_id=user_id, blocked_id=other_id) | Q(user_id=other_id, blocked_id=user_id)
    ).exists()


def relation_of(*, viewer: User, person: User) -> dict[str, bool]:
    """Whether `viewer` muted (`muting`) and blocked (`blocking`) `person`:
    for their profile's buttons. One query (none for someone logged out or
    for themselves)."""
    if viewer is None or not viewer.is_authenticated or viewer.pk == person.pk:
        return {"muting": False, "blocking": False}
    row = (
        User.objects.filter(pk=person.pk)
        .annotate(
            muting=Exists(Mute.objects.filter(user=viewer, muted=OuterRef("pk"))),
            blocking=Exists(Block.objects.filter(user=viewer, blocked=OuterRef("pk"))),
        )
        .values("muting", "blocking")
        .first()
    )
    return row or {"muting": False, "blocking": False}


def silencers_among(*, actor_id: int, user_ids: Iterable[int]) -> set[int]:
    """Those of `user_ids` who must not hear from `actor_id`: who muted or
    blocked them, or whom they blocked. One query."""
    user_ids = list(user_ids)
    muted = Mute.objects.filter(muted_id=actor_id, user_id__in=user_ids).values_list("user_id", flat=True)
    blockers = Block.objects.filter(blocked_id=actor_id, user_id__in=user_ids).values_list("user_id", flat=True)
    blocked = Block.objects.filter(user_id=actor_id, blocked_id__in=user_ids).values_list("blocked_id", flat=True)
    return set(muted.union(blockers, blocked))


def muted_words(viewer: User) -> list[str]:
    """`viewer`'s muted words (lower-case, no "#"), alphabetical. One query."""
    if viewer is None or not viewer.is_authenticated:
        return []
    return list(MutedWord.objects.filter(user=viewer).order_by("word").values_list("word", flat=True))


def muted_people(*, viewer: User) -> QuerySet[User]:
    """Whom `viewer` muted, alphabetical."""
    return User.objects.filter(pk__in=Mute.objects.filter(user=viewer).values("muted_id")).order_by("username")


def blocked_people(*, viewer: User) -> QuerySet[User]:
    """Whom `viewer` blocked, alphabetical."""
    return User.objects.filter(pk__in=Block.objects.filter(user=viewer).values("blocked_id")).order_by("username")


def muted_words_of(viewer: User) -> QuerySet[MutedWord]:
    """`viewer`'s muted words as rows, newest first."""
    return MutedWord.objects.filter(user=viewer).order_by("-created_at", "-pk")


# A muted word matches as a whole word, or as a hashtag ("#" is not a word
# character): the same rule in SQL (muted_text_q) and in Python (muted_text_re).
WORD_BEFORE, WORD_AFTER = r"(^|\W)", r"(\W|$)"


def muted_text_q(viewer: User, field: str) -> Q:
    """A condition true when the text in `field` holds one of `viewer`'s
    muted words (case-insensitive, whole words and hashtags): to exclude,
    inside the caller's query. The words were checked to be word characters
    only (users.services.muted_word_clean), so each is a safe regex."""
    pattern = Concat(Value(WORD_BEFORE), F("word"), Value(WORD_AFTER))
    return Q(Exists(MutedWord.objects.filter(IRegex(OuterRef(field), pattern), user_id=viewer.pk)))


def muted_text_re(words: Iterable[str]) -> re.Pattern | None:
    """The same rule as muted_text_q, as one Python regex (None for no words):
    for code that holds the texts already (the feed build's candidates)."""
    words = sorted(set(words))
    if not words:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)", re.IGNORECASE)


# --- Notifications -----------------------------------------------------------------


def _notifications_shown(viewer: User) -> QuerySet[Notification]:
    """`viewer`'s notifications, but none from people they do not see now, nor
    about a tweet holding one of their muted words (those written before the
    mute or the word stay stored, and come back if it is undone)."""
    return (
        Notification.objects.filter(recipient=viewer)
        .exclude(silenced_q(viewer, "actor_id"))
        .exclude(muted_text_q(viewer, "tweet__text"))
    )


def _group() -> Case:
    # Likes (or retweets) of one tweet share a group: 0 beside their kind and
    # tweet; any other notification is its own group, named by its id.
    return Case(
        When(kind__in=Notification.GROUPED_KINDS, then=Value(0)), default=F("id"), output_field=BigIntegerField()
    )


def notification_groups(*, viewer: User) -> QuerySet:
    """`viewer`'s notifications as the list shows them, one query: likes of
    one tweet are one group, and retweets of it another; every other
    notification is a group of its own. Each group (a dict) has `kind`,
    `tweet_id`, `latest` (the newest one's time), `last_id` (the newest one's
    id: notifications_hydrated reads it), `count` (how many people) and
    `unread` (how many not yet read). Unordered: order by ("-latest",
    "-last_id") for newest first."""
    group = _group()
    return (
        _notifications_shown(viewer)
        .annotate(group=group)
        .values("kind", "tweet_id", "group")
        .annotate(
            latest=Max("created_at"),
            last_id=Max("id"),
            count=Count("id"),
            unread=Count("id", filter=Q(read_at__isnull=True)),
        )
    )


def notifications_unread_count(*, viewer: User) -> int:
    """How many groups (as notification_groups makes them) hold an unread
    notification: the bell's number. One query."""
    group = _group()
    return (
        _notifications_shown(viewer)
        .filter(read_at__isnull=True)
        .annotate(group=group)
        .values("kind", "tweet_id", "group")
        .distinct()
        .count()
    )


def notifications_hydrated(groups: list[dict]) -> list[dict]:
    """The groups, each with `notification`: its newest notification, with
    its actor and tweet (and the tweet's author). One query."""
    found = Notification.objects.select_related("actor", "tweet").in_bulk([group["last_id"] for group in groups])
    return [{**group, "notification": found[group["last_id"]]} for group in groups if group["last_id"] in found]
