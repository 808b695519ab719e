"""Reads on users and the follow graph."""

from django.db.models import Count, Exists, F, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

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
