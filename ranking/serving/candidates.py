"""Candidate sources for the ranked feed: which tweets are worth scoring.

In-network: recent tweets and retweets by the viewer's followees. Out of
network, with social proof: tweets several followees liked or retweeted
lately. A tweet and its retweets collapse into one candidate (the original);
never the viewer's own tweets, what they hid or reported, deleted tweets, or
what they have seen (had an impression of) in the past week.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from ranking.serving.sql import fetch, statement
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


class Candidate(NamedTuple):
    """An original tweet worth scoring, with what the features need of it.
    (A named tuple: a build makes ~1,000, at a quarter of a dataclass's cost.)"""

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


CANDIDATES_SQL = statement("""
WITH recent AS (
    SELECT {tweet.id}, {tweet.retweet_of}, {tweet.author}, {tweet.created_at}
      FROM {tweet}
     WHERE {tweet.author} = ANY(%(followees)s) AND {tweet.deleted_at} IS NULL
       AND {tweet.created_at} >= %(in_network_since)s AND {tweet.created_at} < %(at)s
     ORDER BY {tweet.created_at} DESC, {tweet.id} DESC
     LIMIT %(in_network_limit)s
), in_network AS (
    -- A tweet and its retweets are one candidate, named by its newest appearance.
    SELECT original, via
      FROM (SELECT COALESCE({tweet.retweet_of}, {tweet.id}) AS original,
                   CASE WHEN {tweet.retweet_of} IS NULL THEN NULL ELSE {tweet.author} END AS via,
                   ROW_NUMBER() OVER (PARTITION BY COALESCE({tweet.retweet_of}, {tweet.id})
                                      ORDER BY {tweet.created_at} DESC, {tweet.id} DESC) AS newest
              FROM recent) appearances
     WHERE newest = 1
), social_proof AS (
    SELECT {engagement.tweet} AS original
      FROM {engagement}
     WHERE {engagement.user} = ANY(%(followees)s) AND {engagement.kind} IN ({kind.like}, {kind.retweet})
       AND {engagement.created_at} >= %(proof_since)s AND {engagement.created_at} < %(at)s
     GROUP BY {engagement.tweet}
    HAVING COUNT(DISTINCT {engagement.user}) >= %(proof_min_followees)s
     ORDER BY COUNT(DISTINCT {engagement.user}) DESC, {engagement.tweet} DESC
     LIMIT %(proof_limit)s
), sources AS (
    SELECT original, CASE WHEN via IS NULL THEN 'followee' ELSE 'retweet' END AS source, via
      FROM in_network
     UNION ALL
    SELECT original, 'social_proof', NULL
      FROM social_proof
     WHERE original NOT IN (SELECT original FROM in_network)
)
SELECT t.{tweet.id}, t.{tweet.author}, t.{tweet.text},
       CAST(EXTRACT(EPOCH FROM t.{tweet.created_at}) AS double precision), t.{tweet.reply_to} IS NOT NULL,
       s.source, s.via
  FROM sources s JOIN {tweet} t ON t.{tweet.id} = s.original
 WHERE t.{tweet.deleted_at} IS NULL AND t.{tweet.created_at} < %(at)s AND t.{tweet.author} <> %(viewer)s
   AND NOT EXISTS (SELECT 1 FROM {hide} h WHERE h.{hide.user} = %(viewer)s AND h.{hide.tweet} = t.{tweet.id})
   AND NOT EXISTS (SELECT 1 FROM {report} r WHERE r.{report.user} = %(viewer)s AND r.{report.tweet} = t.{tweet.id})
   -- Seen already: shown again it would only repeat what the viewer did (or didn't) do.
   AND NOT EXISTS (SELECT 1 FROM {engagement} e
                    WHERE e.{engagement.user} = %(viewer)s AND e.{engagement.tweet} = t.{tweet.id}
                      AND e.{engagement.kind} = {kind.impression}
                      AND e.{engagement.created_at} >= %(in_network_since)s AND e.{engagement.created_at} < %(at)s)
 ORDER BY t.{tweet.created_at} DESC, t.{tweet.id} DESC
""")


def candidates_for(*, viewer_id: int, at: datetime) -> CandidateSet:
    """Every candidate for `viewer_id`'s feed at `at`, in two queries."""
    followees = frozenset(Follow.objects.filter(follower_id=viewer_id).values_list("followee_id", flat=True))
    rows = fetch(
        CANDIDATES_SQL,
        viewer=viewer_id,
        followees=list(followees),
        at=at,
        in_network_since=at - IN_NETWORK_MAX_AGE,
        in_network_limit=IN_NETWORK_LIMIT,
        proof_since=at - SOCIAL_PROOF_WINDOW,
        proof_min_followees=SOCIAL_PROOF_MIN_FOLLOWEES,
        proof_limit=SOCIAL_PROOF_LIMIT,
    )
    candidates = [
        Candidate(tweet_id, author_id, text, datetime.fromtimestamp(created, UTC), bool(is_reply), source, via)
        for tweet_id, author_id, text, created, is_reply, source, via in rows
    ]
    return CandidateSet(viewer_id=viewer_id, followee_ids=followees, candidates=candidates)
