"""The ranking as the web process sees it, and all it imports of `ranking`:
read a page of a stored ranked list and the feature rows it was scored
with, ask for a build, say a tweet was posted or that someone's follows
changed.

No TensorFlow, no worker code: builds and fan-out run in Celery workers,
enqueued by task name. Any failure of Redis or the broker reads as "no
ranked list", which the caller answers with the chronological feed.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction

from config.celery import enqueue, enqueue_now
from ranking.experiments.assignment import Assignment, assignment_for
from ranking.store import (
    OWN_TWEET_REASON,
    RankedItem,
    building_mark,
    building_unmark,
    ranked_feed_drop,
    ranked_feed_is_fresh,
    ranked_feed_prepend,
    ranked_feed_slice,
    ranking_unavailable,
)

# What orders the feed of a user in no experiment: the active model version.
DEFAULT_RANKER = "active"

__all__ = [
    "DEFAULT_RANKER",
    "Assignment",
    "RankedItem",
    "RankedPage",
    "Unranked",
    "assignment_for",
    "feed_build_request",
    "follows_changed",
    "ranked_page",
    "served_features",
    "tweet_posted",
]


@dataclass(frozen=True)
class RankedPage:
    model_version: str
    built_at: datetime  # the time the list's features are as of
    version: str  # which version of the list: a scroll reads on from it
    items: list[RankedItem]
    has_more: bool
    feature_spec: str = ""  # the feature-spec fingerprint the list was built under
    # Tweet id -> the feature row the build scored it with, read with the slice.
    features: dict[int, list[float]] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Unranked:
    """No ranked list to serve. `ranking`: "pending" when a build is on its
    way (serve the latest timeline meanwhile), "off" when none can be: no
    model can rank now, or the broker or Redis is down."""

    ranking: str


def feed_build_request(*, user_id: int, rankers: tuple[str, ...] | None = None) -> bool:
    """Ask a feeds worker for a new list, once per user at a time; True when
    one is on its way. Not when a worker said lately that one of the
    `rankers` it would be built with cannot rank (by default, the rankers of
    the user's experiment variant, else the active model's), nor for a
    variant served the chronological feed. Sent at once, not on commit, so
    that the "building" mark stays only when the broker took the build:
    after a failed send the next read asks again. A mark whose build was
    lost with its worker expires within seconds (FEED_BUILD_MARK_TTL_S), and
    the next read asks again too."""
    if rankers is None:
        assignment = assignment_for(user_id=user_id)
        if assignment is not None and not assignment.ranks:
            return False
        rankers = assignment.model_rankers if assignment else (DEFAULT_RANKER,)
    if any(ranking_unavailable(ranker) for ranker in rankers):
        return False
    marked = building_mark(user_id=user_id)
    if marked is None:  # Redis is down: no list could be stored
        return False
    if not marked:  # asked for already, and not lost yet
        return True
    # A build asked for longer ago than a list may be old is no longer awaited.
    if enqueue_now("ranking.tasks.build_feed", user_id, expires_s=settings.RANKED_FEED_MAX_AGE_S):
        return True
    building_unmark(user_id=user_id)
    return False


def tweet_posted(*, tweet_id: int, author_id: int, is_retweet: bool = False) -> None:
    """A tweet, reply or retweet was posted. Once committed: a tweet or reply
    goes on top of its author's own list at once (as on Twitter), and its
    author's recently active followers' lists go stale (fan-out)."""
    if not is_retweet:
        own = RankedItem(tweet_id, None, (OWN_TWEET_REASON,))
        transaction.on_commit(lambda: ranked_feed_prepend(user_id=author_id, item=own))
    enqueue("ranking.tasks.fanout_tweet", tweet_id)


def follows_changed(*, user_id: int) -> None:
    """`user_id` followed or unfollowed someone: once committed, their list no
    longer holds who they follow, so it goes, and a new one is asked for at
    once. Until it is stored, their "For you" is the latest timeline, which
    already reflects the change."""

    def rebuild() -> None:
        ranked_feed_drop(user_id=user_id)
        feed_build_request(user_id=user_id)

    transaction.on_commit(rebuild)


def ranked_page(
    *,
    user_id: int,
    offset: int,
    limit: int,
    version: str | None = None,
    at: datetime | None = None,
    arm: str = "",
    rankers: tuple[str, ...] = (DEFAULT_RANKER,),
) -> RankedPage | Unranked:
    """A slice of the stored ranked list. A new load (no `version`) reads the
    current list, and asks for a rebuild when it is stale while still serving
    it; only when there is no list at all does it answer Unranked (asking
    for one: "pending", or "off" when none can be built now). A scroll in
    progress reads on from the `version` it began on (the current list once
    that version expired). `arm`: what the list must have been built for (an
    experiment's variant, ranked by `rankers`); a list built for another
    arm counts as none, so no user is served another variant's ranking."""
    # Only the page's slice and the list's header are read, never the whole list.
    feed = ranked_feed_slice(user_id=user_id, offset=offset, limit=limit, version=version) if version else None
    if feed is None:
        feed = ranked_feed_slice(user_id=user_id, offset=offset, limit=limit)
        if feed is not None and feed.arm != arm:
            feed = None
        requested = False
        if feed is None or not ranked_feed_is_fresh(feed=feed, at=at):
            requested = feed_build_request(user_id=user_id, rankers=rankers)
        if feed is None:
            return Unranked("pending" if requested else "off")
    return RankedPage(
        model_version=feed.model_version,
        built_at=feed.built_at,
        version=feed.version,
        items=feed.items,
        has_more=offset + limit < feed.length,
        feature_spec=feed.feature_spec,
        features=feed.features,
    )


def served_features(*, user_id: int, page: RankedPage, tweet_ids: list[int]) -> dict[int, list[float]]:
    """The feature rows `page`'s list scored these tweets with (tweet id ->
    floats): read with the page's slice, so no further read; missing for
    items placed unscored, and when Redis is down there is no page."""
    return {tweet_id: page.features[tweet_id] for tweet_id in tweet_ids if tweet_id in page.features}
