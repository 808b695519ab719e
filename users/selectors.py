"""Reads on users and the follow graph."""

from collections.abc import Iterable

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Lower

from users.models import Follow, User


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
    return (
        user_profiles(viewer=viewer)
        .alias(username_lower=Lower("username"), display_name_lower=Lower("display_name"))
        .filter(Q(username_lower__startswith=prefix) | Q(display_name_lower__startswith=prefix))
    )


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
    follows nobody yet), the most followed accounts. Never `viewer` nor anyone
    `viewer` already follows. Three queries."""
    followed = Follow.objects.filter(follower=viewer).values("followee_id")
    ids = list(
        Follow.objects.filter(follower__in=followed, followee__is_active=True)
        .exclude(followee=viewer)
        .exclude(followee__in=followed)
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
            .annotate(n=Count("follower_set"))
            .order_by("-n", "-pk")
            .values_list("pk", flat=True)[: limit - len(ids)]
        )
    return profiles_in_order(viewer=viewer, user_ids=ids)
