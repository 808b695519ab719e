"""Candidate sources for the ranked feed: which tweets are worth scoring.

In-network: recent tweets and retweets by the viewer's followees. Out of
network, with social proof: tweets several followees liked or retweeted
lately. When those are few (a new account, or someone who has read them
all), more out of network, so "For you" never dead-ends: what people who
like what the viewer likes liked lately, then what is popular. A tweet and
its retweets collapse into one candidate (the original); never the viewer's
own tweets, what they hid or reported, deleted tweets, or what they have
seen (had an impression of) in the past week: a tweet scrolled past does
not come back. Nor, before any is scored (no slot is wasted on them), a
tweet by someone the viewer muted or blocked or who blocked them, nor one
holding a word they muted; muted and blocked followees' retweets bring
nothing either. The viewer's own tweets of the last minutes are pinned on top
of the list instead (`own_recent`), as on Twitter.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from ranking.serving.sql import fetch, statement
from users.selectors import muted_text_re

IN_NETWORK_MAX_AGE = timedelta(days=7)
IN_NETWORK_LIMIT = 1000
SOCIAL_PROOF_WINDOW = timedelta(days=2)
SOCIAL_PROOF_MIN_FOLLOWEES = 2
SOCIAL_PROOF_LIMIT = 200
SEEN_WINDOW = timedelta(days=7)  # an impression this recent keeps a tweet out
# Fewer in-network candidates than this, and out-of-network ones fill in.
OUT_OF_NETWORK_BELOW = 50
OUT_OF_NETWORK_WINDOW = timedelta(days=2)  # what was liked this recently
TASTE_WINDOW = timedelta(days=30)  # the viewer's likes that define their taste
KINDRED_LIMIT = 200  # the people whose likes overlap the viewer's most
OUT_OF_NETWORK_LIMIT = 200
OWN_TWEETS_PINNED = timedelta(minutes=30)


class Source:
    FOLLOWEE = "followee"  # posted by someone the viewer follows
    RETWEET = "retweet"  # retweeted by someone the viewer follows
    SOCIAL_PROOF = "social_proof"  # liked or retweeted by several followees
    SIMILAR = "similar"  # liked lately by people who like what the viewer likes
    POPULAR = "popular"  # liked or retweeted most, lately, by anyone
    FILL = (SIMILAR, POPULAR)  # what fills in when the viewer's network runs out


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


# What no source may bring, for candidate `t` of viewer %(viewer)s at %(at)s.
VISIBLE_TO_VIEWER = statement("""
t.{tweet.deleted_at} IS NULL AND t.{tweet.created_at} < %(at)s AND t.{tweet.author} <> %(viewer)s
   AND NOT EXISTS (SELECT 1 FROM {hide} h WHERE h.{hide.user} = %(viewer)s AND h.{hide.tweet} = t.{tweet.id})
   AND NOT EXISTS (SELECT 1 FROM {report} r WHERE r.{report.user} = %(viewer)s AND r.{report.tweet} = t.{tweet.id})
   -- Seen already: shown again it would only repeat what the viewer did (or didn't) do. The
   -- viewer's week of impressions, read once by (user, kind, created_at) and hashed: probed per
   -- candidate instead, the planner could take the tweet's index and read every impression of
   -- a popular tweet (it did on the benchmark's world once vacuumed).
   AND t.{tweet.id} NOT IN (SELECT e.{engagement.tweet} FROM {engagement} e
                             WHERE e.{engagement.user} = %(viewer)s AND e.{engagement.kind} = {kind.impression}
                               AND e.{engagement.created_at} >= %(seen_since)s
                               AND e.{engagement.created_at} < %(at)s)
""")

CANDIDATES_SQL = statement(
    """
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
 WHERE {visible_to_viewer}
 ORDER BY t.{tweet.created_at} DESC, t.{tweet.id} DESC
""",
    visible_to_viewer=VISIBLE_TO_VIEWER,
)


OUT_OF_NETWORK_SQL = statement(
    """
WITH liked AS (
    SELECT {engagement.tweet} AS tweet_id
      FROM {engagement}
     WHERE {engagement.user} = %(viewer)s AND {engagement.kind} = {kind.like}
       AND {engagement.created_at} >= %(taste_since)s AND {engagement.created_at} < %(at)s
), kindred AS (
    SELECT e.{engagement.user} AS user_id
      FROM {engagement} e JOIN liked l ON e.{engagement.tweet} = l.tweet_id
     WHERE e.{engagement.kind} = {kind.like} AND e.{engagement.user} <> %(viewer)s
       AND e.{engagement.created_at} < %(at)s
     GROUP BY e.{engagement.user}
     ORDER BY COUNT(*) DESC, e.{engagement.user}
     LIMIT %(kindred_limit)s
), liked_by_kindred AS (
    SELECT e.{engagement.tweet} AS original
      FROM {engagement} e JOIN kindred k ON e.{engagement.user} = k.user_id
     WHERE e.{engagement.kind} = {kind.like}
       AND e.{engagement.created_at} >= %(since)s AND e.{engagement.created_at} < %(at)s
     GROUP BY e.{engagement.tweet}
     ORDER BY COUNT(*) DESC, e.{engagement.tweet} DESC
     LIMIT %(limit)s
), popular AS (
    SELECT {engagement.tweet} AS original
      FROM {engagement}
     WHERE {engagement.kind} IN ({kind.like}, {kind.retweet})
       AND {engagement.created_at} >= %(since)s AND {engagement.created_at} < %(at)s
     GROUP BY {engagement.tweet}
     ORDER BY COUNT(*) DESC, {engagement.tweet} DESC
     LIMIT %(limit)s
), sources AS (
    SELECT original, source, ROW_NUMBER() OVER (PARTITION BY original ORDER BY preference) AS choice
      FROM (SELECT original, 'similar' AS source, 0 AS preference FROM liked_by_kindred
             UNION ALL
            SELECT original, 'popular', 1 FROM popular) offered
)
SELECT t.{tweet.id}, t.{tweet.author}, t.{tweet.text},
       CAST(EXTRACT(EPOCH FROM t.{tweet.created_at}) AS double precision), t.{tweet.reply_to} IS NOT NULL,
       s.source, NULL
  FROM sources s JOIN {tweet} t ON t.{tweet.id} = s.original
 WHERE s.choice = 1 AND NOT (t.{tweet.id} = ANY(%(in_network)s)) AND {visible_to_viewer}
 ORDER BY t.{tweet.created_at} DESC, t.{tweet.id} DESC
""",
    visible_to_viewer=VISIBLE_TO_VIEWER,
)

# The viewer's own tweets and replies of the last minutes, newest first.
OWN_RECENT_SQL = statement("""
SELECT {tweet.id}
  FROM {tweet}
 WHERE {tweet.author} = %(viewer)s AND {tweet.retweet_of} IS NULL AND {tweet.deleted_at} IS NULL
   AND {tweet.created_at} >= %(since)s AND {tweet.created_at} < %(at)s
 ORDER BY {tweet.created_at} DESC, {tweet.id} DESC
""")


# Whom the viewer follows, whom they muted or blocked and who blocked them
# (silenced), and their muted words: one round trip.
VIEWER_GRAPH_SQL = statement("""
SELECT 'followee', {follow.followee}, NULL FROM {follow} WHERE {follow.follower} = %(viewer)s
 UNION ALL
SELECT 'silenced', {mute.muted}, NULL FROM {mute} WHERE {mute.user} = %(viewer)s
 UNION ALL
SELECT 'silenced', {block.blocked}, NULL FROM {block} WHERE {block.user} = %(viewer)s
 UNION ALL
SELECT 'silenced', {block.user}, NULL FROM {block} WHERE {block.blocked} = %(viewer)s
 UNION ALL
SELECT 'word', NULL, {muted_word.word} FROM {muted_word} WHERE {muted_word.user} = %(viewer)s
""")


def _candidates(rows: list[tuple]) -> list[Candidate]:
    return [
        Candidate(tweet_id, author_id, text, datetime.fromtimestamp(created, UTC), bool(is_reply), source, via)
        for tweet_id, author_id, text, created, is_reply, source, via in rows
    ]


def _silenced_out(candidates: list[Candidate], *, silenced: set[int], muted: re.Pattern | None) -> list[Candidate]:
    return [
        c
        for c in candidates
        if c.author_id not in silenced and c.via_user_id not in silenced and not (muted and muted.search(c.text))
    ]


def candidates_for(*, viewer_id: int, at: datetime) -> CandidateSet:
    """Every candidate for `viewer_id`'s feed at `at`: two queries, and a
    third for out-of-network ones when the first give fewer than
    OUT_OF_NETWORK_BELOW. Mutes, blocks and muted words filter here, in
    Python (the same rules as users.selectors'): the rows hold the author
    and the text already, and a few hundred string searches cost less than
    a regex join in SQL. Silenced followees are no followees: their tweets
    and retweets bring nothing."""
    graph = fetch(VIEWER_GRAPH_SQL, viewer=viewer_id)
    silenced = {user_id for kind, user_id, _ in graph if kind == "silenced"}
    muted = muted_text_re(word for kind, _, word in graph if kind == "word")
    followees = frozenset(user_id for kind, user_id, _ in graph if kind == "followee") - silenced
    candidates = _candidates(
        fetch(
            CANDIDATES_SQL,
            viewer=viewer_id,
            followees=list(followees),
            at=at,
            in_network_since=at - IN_NETWORK_MAX_AGE,
            seen_since=at - SEEN_WINDOW,
            in_network_limit=IN_NETWORK_LIMIT,
            proof_since=at - SOCIAL_PROOF_WINDOW,
            proof_min_followees=SOCIAL_PROOF_MIN_FOLLOWEES,
            proof_limit=SOCIAL_PROOF_LIMIT,
        )
    )
    candidates = _silenced_out(candidates, silenced=silenced, muted=muted)
    if len(candidates) < OUT_OF_NETWORK_BELOW:
        candidates += _silenced_out(
            _candidates(
                fetch(
                    OUT_OF_NETWORK_SQL,
                    viewer=viewer_id,
                    at=at,
                    in_network=[c.tweet_id for c in candidates],
                    seen_since=at - SEEN_WINDOW,
                    taste_since=at - TASTE_WINDOW,
                    since=at - OUT_OF_NETWORK_WINDOW,
                    kindred_limit=KINDRED_LIMIT,
                    limit=OUT_OF_NETWORK_LIMIT,
                )
            ),
            silenced=silenced,
            muted=muted,
        )
    return CandidateSet(viewer_id=viewer_id, followee_ids=followees, candidates=candidates)


def own_recent(*, viewer_id: int, at: datetime) -> list[int]:
    """The viewer's own tweets and replies posted within OWN_TWEETS_PINNED
    before `at`, newest first: pinned on top of their list, unscored."""
    rows = fetch(OWN_RECENT_SQL, viewer=viewer_id, at=at, since=at - OWN_TWEETS_PINNED)
    return [tweet_id for (tweet_id,) in rows]
