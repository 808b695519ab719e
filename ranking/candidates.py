"""Candidate sources for the ranked feed: which tweets are worth scoring.

In-network: recent tweets and retweets by the viewer's followees. Out of
network, with social proof: tweets several followees liked or retweeted
lately. A tweet and its retweets collapse into one candidate (the original);
never the viewer's own tweets, what they hid or reported, deleted tweets, or
what they have seen (had an impression of) in the past week.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef

from feed.models import Engagement, Hide, Report, Tweet
from users.models import Follow

IN_NETWORK_MAX_AGE = timedelta(days=7)
IN_NETWORK_LIMIT = 1000
SOCIAL_PROOF_WINDOW = timedelta(days=2)
SOCIAL_PROOF_MIN_FOLLOWEES = 2
SOCIAL_PROOF_LIMIT = 200


class Source:
    FOLLOWEE = "followee"  # posted by someone the viewer follows
    RETWEET = "retweet"  # retweeted by someone the viewer follows
    SOCIAL_PROOF = "social_proof"  # liked or retweeted by several followees


@dataclass(frozen=True)
class Candidate:
    """An original tweet worth scoring, with what the features need of it."""

    tweet_id: int
    author_id: int
    text: str
    created_at: datetime
    is_reply: bool
    source: str
    via_user_id: int | None = None  # the followee whose retweet brought it


@dataclass(frozen=True)
class CandidateSet:
    viewer_id: int
    followee_ids: frozenset[int]
    candidates: list[Candidate]


def candidates_for(*, viewer_id: int, at: datetime) -> CandidateSet:
    """Every candidate for `viewer_id`'s feed at `at`, in four queries."""
    followees = frozenset(Follow.objects.filter(follower_id=viewer_id).values_list("followee_id", flat=True))
    recent = Tweet.objects.filter(
        author_id__in=followees,
        created_at__gte=at - IN_NETWORK_MAX_AGE,
        created_at__lt=at,
        deleted_at__isnull=True,
    ).order_by("-created_at", "-id")[:IN_NETWORK_LIMIT]
    sources: dict[int, tuple[str, int | None]] = {}
    for tweet_id, retweet_of_id, author_id in recent.values_list("id", "retweet_of_id", "author_id"):
        if retweet_of_id:
            sources.setdefault(retweet_of_id, (Source.RETWEET, author_id))
        else:
            sources.setdefault(tweet_id, (Source.FOLLOWEE, None))

    proof = (
        Engagement.objects.filter(
            user_id__in=followees,
            kind__in=(Engagement.Kind.LIKE, Engagement.Kind.RETWEET),
            created_at__gte=at - SOCIAL_PROOF_WINDOW,
            created_at__lt=at,
        )
        .values("tweet_id")
        .annotate(followees=Count("user_id", distinct=True))
        .filter(followees__gte=SOCIAL_PROOF_MIN_FOLLOWEES)
        .order_by("-followees", "-tweet_id")[:SOCIAL_PROOF_LIMIT]
    )
    for row in proof:
        sources.setdefault(row["tweet_id"], (Source.SOCIAL_PROOF, None))

    originals = (
        Tweet.objects.filter(pk__any=list(sources), deleted_at__isnull=True, created_at__lt=at)
        .exclude(author_id=viewer_id)
        .exclude(Exists(Hide.objects.filter(user_id=viewer_id, tweet_id=OuterRef("pk"))))
        .exclude(Exists(Report.objects.filter(user_id=viewer_id, tweet_id=OuterRef("pk"))))
        # Seen already: shown again it would only repeat what the viewer did (or didn't) do.
        .exclude(
            Exists(
                Engagement.objects.filter(
                    user_id=viewer_id,
                    tweet_id=OuterRef("pk"),
                    kind=Engagement.Kind.IMPRESSION,
                    created_at__gte=at - IN_NETWORK_MAX_AGE,
                    created_at__lt=at,
                )
            )
        )
        .values_list("id", "author_id", "text", "created_at", "reply_to_id")
    )
    candidates = [
        Candidate(tweet_id, author_id, text, created_at, reply_to_id is not None, *sources[tweet_id])
        for tweet_id, author_id, text, created_at, reply_to_id in originals.order_by("-created_at", "-id")
    ]
    return CandidateSet(viewer_id=viewer_id, followee_ids=followees, candidates=candidates)
