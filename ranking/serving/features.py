"""Feature hydration for one viewer's candidates at one time: the serving
evaluator of the spec (ranking.spec), in four hand-written statements.

Raw numbers go out (counts, hours, flags); the model normalises them itself,
so training and serving cannot skew on preprocessing.
"""

from collections import defaultdict
from datetime import datetime

import numpy as np
from django.conf import settings

from ranking.serving.candidates import CandidateSet
from ranking.serving.sql import fetch, statement
from ranking.serving.text import TextProfile, tokens
from ranking.spec import (
    ACTIONS,
    AFFINITY_COUNTS,
    AFFINITY_WINDOW,
    AUTHOR_DWELL,
    COLUMN,
    NUMERIC_FEATURES,
    RECENT_WINDOW,
    TEXT_COLUMNS,
    FeatureBatch,
    Kind,
    derived_features,
)

# Dwell times are heavy-tailed: the features average LN(1 + ms), a far steadier
# estimate of how much a tweet holds people than the mean of raw times. A
# tweet's counts are over AFFINITY_WINDOW, as training counts them (ranking.spec).
TWEET_COUNTS_SQL = statement("""
SELECT {engagement.tweet},
       COUNT(*) FILTER (WHERE {engagement.kind} = {kind.impression}),
       COUNT(*) FILTER (WHERE {engagement.kind} = {kind.like}),
       COUNT(*) FILTER (WHERE {engagement.kind} = {kind.reply}),
       COUNT(*) FILTER (WHERE {engagement.kind} = {kind.retweet}),
       COUNT(*) FILTER (WHERE {engagement.kind} IN ({kind.hide}, {kind.report})),
       COUNT(DISTINCT {engagement.user}) FILTER (WHERE {engagement.kind} IN ({kind.like}, {kind.retweet})
                                                   AND {engagement.user} = ANY(%(followees)s)),
       COUNT(*) FILTER (WHERE {engagement.kind} = {kind.dwell}),
       COALESCE(SUM(LN({engagement.dwell_ms} + 1)) FILTER (WHERE {engagement.kind} = {kind.dwell}), 0)
  FROM {engagement}
 WHERE {engagement.tweet} = ANY(%(tweets)s)
   AND {engagement.created_at} >= %(month_ago)s AND {engagement.created_at} < %(at)s
 GROUP BY {engagement.tweet}
""")
TWEET_COLUMNS = ("tweet_impressions", "tweet_likes", "tweet_replies", "tweet_retweets", "tweet_negatives")

AUTHORS_SQL = statement("""
SELECT u.{user.id},
       (SELECT COUNT(*) FROM {follow} f
         WHERE f.{follow.followee} = u.{user.id} AND f.{follow.created_at} < %(at)s),
       EXISTS (SELECT 1 FROM {follow} f
                WHERE f.{follow.follower} = u.{user.id} AND f.{follow.followee} = %(viewer)s
                  AND f.{follow.created_at} < %(at)s),
       (SELECT COUNT(*) FROM {tweet} t
         WHERE t.{tweet.author} = u.{user.id} AND t.{tweet.retweet_of} IS NULL
           AND t.{tweet.created_at} >= %(week_ago)s AND t.{tweet.created_at} < %(at)s),
       COALESCE(r.impressions, 0), COALESCE(r.likes, 0), COALESCE(r.negatives, 0), COALESCE(r.dwells, 0),
       COALESCE(r.log_dwell, 0)
  FROM {user} u
  LEFT JOIN (
        SELECT t.{tweet.author} AS author_id,
               COUNT(*) FILTER (WHERE e.{engagement.kind} = {kind.impression}) AS impressions,
               COUNT(*) FILTER (WHERE e.{engagement.kind} = {kind.like}) AS likes,
               COUNT(*) FILTER (WHERE e.{engagement.kind} IN ({kind.hide}, {kind.report})) AS negatives,
               COUNT(*) FILTER (WHERE e.{engagement.kind} = {kind.dwell}) AS dwells,
               SUM(LN(e.{engagement.dwell_ms} + 1)) FILTER (WHERE e.{engagement.kind} = {kind.dwell}) AS log_dwell
          FROM {engagement} e JOIN {tweet} t ON t.{tweet.id} = e.{engagement.tweet}
         WHERE t.{tweet.author} = ANY(%(authors)s)
           AND e.{engagement.created_at} >= %(week_ago)s AND e.{engagement.created_at} < %(at)s
         GROUP BY t.{tweet.author}
       ) r ON r.author_id = u.{user.id}
 WHERE u.{user.id} = ANY(%(authors)s)
""")
AUTHOR_COLUMNS = (  # of AUTHORS_SQL, before its dwell count and log-dwell sum
    "author_followers",
    "author_follows_viewer",
    "author_tweets_7d",
    "author_impressions_7d",
    "author_likes_7d",
    "author_negatives_7d",
)

# The viewer's own past, per author and kind of engagement.
HISTORY_SQL = statement("""
SELECT t.{tweet.author}, e.{engagement.kind}, COUNT(*),
       COUNT(*) FILTER (WHERE e.{engagement.dwell_ms} >= %(long_ms)s),
       COUNT(*) FILTER (WHERE e.{engagement.created_at} >= %(week_ago)s),
       COALESCE(SUM(LN(e.{engagement.dwell_ms} + 1)), 0)
  FROM {engagement} e JOIN {tweet} t ON t.{tweet.id} = e.{engagement.tweet}
 WHERE e.{engagement.user} = %(viewer)s
   AND e.{engagement.created_at} >= %(month_ago)s AND e.{engagement.created_at} < %(at)s
 GROUP BY t.{tweet.author}, e.{engagement.kind}
""")

# What the viewer reacted to, for their TextProfile.
REACTIONS_SQL = statement("""
SELECT t.{tweet.text}, e.{engagement.kind}, e.{engagement.dwell_ms}
  FROM {engagement} e JOIN {tweet} t ON t.{tweet.id} = e.{engagement.tweet}
 WHERE e.{engagement.user} = %(viewer)s
   AND e.{engagement.created_at} >= %(month_ago)s AND e.{engagement.created_at} < %(at)s
   AND e.{engagement.kind} IN ({kind.like}, {kind.reply}, {kind.retweet}, {kind.hide}, {kind.report}, {kind.dwell})
""")


def mean_or_zero(total, count):
    """total / count where count > 0, else 0 (element-wise)."""
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def empty_batch() -> FeatureBatch:
    return FeatureBatch(
        np.zeros((0, len(NUMERIC_FEATURES)), np.float32),
        np.array([], dtype=object),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
    )


def serving_features(*, candidate_set: CandidateSet, at: datetime) -> FeatureBatch:
    """Features of every candidate for one viewer at `at`, in four queries."""
    candidates = candidate_set.candidates
    viewer = candidate_set.viewer_id
    if not candidates:
        return empty_batch()
    authors = sorted({c.author_id for c in candidates})
    window = {"viewer": viewer, "at": at, "week_ago": at - RECENT_WINDOW, "month_ago": at - AFFINITY_WINDOW}

    # Per author: their audience, output and reception, then the viewer's history with them.
    per_author = np.zeros((len(authors), len(NUMERIC_FEATURES)), dtype=np.float32)
    rows = fetch(AUTHORS_SQL, authors=authors, **window)
    if rows:
        row_of = np.searchsorted(authors, [row[0] for row in rows])
        received = np.array([row[1:] for row in rows], dtype=np.float64)
        for i, name in enumerate(AUTHOR_COLUMNS):
            per_author[row_of, COLUMN[name]] = received[:, i]
        per_author[row_of, COLUMN[AUTHOR_DWELL]] = mean_or_zero(received[:, -1], received[:, -2])
    per_author[:, COLUMN["follows_author"]] = [a in candidate_set.followee_ids for a in authors]

    viewer_counts: dict[str, float] = defaultdict(float)
    author_log_dwell: dict[int, float] = {}
    index_of = {author: i for i, author in enumerate(authors)}
    for author, kind, count, long, recent, log_dwell in fetch(HISTORY_SQL, long_ms=settings.DWELL_LONG_MS, **window):
        i = index_of.get(author)
        if i is not None and kind in AFFINITY_COUNTS:
            per_author[i, COLUMN[AFFINITY_COUNTS[kind]]] += count
        if kind == Kind.DWELL:
            if i is not None:
                per_author[i, COLUMN["aff_long_dwells"]] += long
                author_log_dwell[i] = log_dwell / count
            viewer_counts["dwells"] += count
            viewer_counts["log_dwell"] += log_dwell
        viewer_counts["viewer_impressions_7d" if kind == Kind.IMPRESSION else kind] += recent
    viewer_log_dwell = viewer_counts["log_dwell"] / viewer_counts["dwells"] if viewer_counts["dwells"] else 0.0
    for i, mean in author_log_dwell.items():
        per_author[i, COLUMN["aff_dwell_lift"]] = mean - viewer_log_dwell

    # Spread to the candidates, then the per-tweet columns.
    numeric = per_author[np.searchsorted(authors, [c.author_id for c in candidates])]
    tweet_ids = [c.tweet_id for c in candidates]
    rows = fetch(
        TWEET_COUNTS_SQL,
        tweets=tweet_ids,
        followees=list(candidate_set.followee_ids),
        at=at,
        month_ago=window["month_ago"],
    )
    if rows:
        counts = np.array([row[1:] for row in rows], dtype=np.float64)
        at_row = {tweet_id: i for i, tweet_id in enumerate(tweet_ids)}
        row_of = [at_row[row[0]] for row in rows]
        numeric[np.ix_(row_of, [COLUMN[name] for name in (*TWEET_COLUMNS, "followees_engaged")])] = counts[:, :6]
        numeric[row_of, COLUMN["tweet_mean_log_dwell"]] = mean_or_zero(counts[:, 7], counts[:, 6])

    def put(name: str, values) -> None:
        numeric[:, COLUMN[name]] = values

    at_s = at.timestamp()
    put("age_h", [(at_s - c.created_at.timestamp()) / 3600 for c in candidates])
    put("is_reply", [c.is_reply for c in candidates])
    put("text_chars", [len(c.text) for c in candidates])
    put("viewer_impressions_7d", viewer_counts["viewer_impressions_7d"])
    put("viewer_actions_7d", sum(viewer_counts[kind] for kind in ACTIONS))
    put("viewer_mean_log_dwell", viewer_log_dwell)
    profile = TextProfile()
    for text, kind, dwell_ms in fetch(REACTIONS_SQL, **window):
        profile.react(tokens(text), kind, dwell_ms)
    numeric[:, TEXT_COLUMNS] = profile.match_many([c.text for c in candidates])
    return FeatureBatch(
        derived_features(numeric),
        np.array([c.text for c in candidates], dtype=object),
        np.full(len(candidates), viewer, dtype=np.int64),
        np.array([c.author_id for c in candidates], dtype=np.int64),
    )


# --- Training: every impression of a period, each at its own time ------------
