"""Feature hydration for one viewer's candidates at one time: the serving
evaluator of the spec (ranking.spec), as key lookups in the counters kept on
write (feed.counters) and two range scans of the log bounded by the viewer:
their own reactions, and their followees' likes and retweets.

A window's counts are the sum of its UTC days' rows per key (a tweet, an
author, the viewer and an author), less what its last day holds from the
build time on (AFTER_SQL: nothing, for a build at the present, but a build
as of an earlier time, in a test or the simulator, must not count what came
after it). No statement reads more for an older history, a famous author or
a viral tweet: the per-day rows of a window, the viewer's own reactions and
their followees' likes and retweets in the window.

Raw numbers go out (counts, hours, flags); the model normalises them itself,
so training and serving cannot skew on preprocessing.
"""

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from feed.counters import counters_prune
from ranking.serving.candidates import CandidateSet
from ranking.serving.sql import fetch, statement
from ranking.serving.text import TextProfile, tokens
from ranking.spec import (
    ACTIONS,
    AFFINITY_COUNTS,
    AFFINITY_WINDOW,
    AUTHOR_COUNTS,
    AUTHOR_DWELL,
    COLUMN,
    DAY,
    NUMERIC_FEATURES,
    RECENT_WINDOW,
    TEXT_COLUMNS,
    TWEET_COUNTS,
    FeatureBatch,
    Kind,
    derived_features,
    window_start,
)
from users.models import FollowEvent

# Per author: followers (kept on the user), whether they follow the viewer,
# and their week's day rows: tweets posted, and what their tweets received.
AUTHORS_SQL = statement("""
SELECT u.{user.id}, u.{user.follower_count},
       EXISTS (SELECT 1 FROM {follow} f
                WHERE f.{follow.follower} = u.{user.id} AND f.{follow.followee} = %(viewer)s
                  AND f.{follow.created_at} < %(at)s),
       COALESCE(c.tweets, 0), COALESCE(c.impressions, 0), COALESCE(c.likes, 0), COALESCE(c.negatives, 0),
       COALESCE(c.dwells, 0), COALESCE(c.log_dwell, 0)
  FROM {user} u
  LEFT JOIN (
        SELECT {author_counts.author} AS author_id, SUM({author_counts.tweets}) AS tweets,
               SUM({author_counts.impressions}) AS impressions, SUM({author_counts.likes}) AS likes,
               SUM({author_counts.negatives}) AS negatives, SUM({author_counts.dwells}) AS dwells,
               SUM({author_counts.log_dwell}) AS log_dwell
          FROM {author_counts}
         WHERE {author_counts.author} = ANY(%(authors)s)
           AND {author_counts.day} >= %(week_start)s AND {author_counts.day} <= %(day)s
         GROUP BY {author_counts.author}
       ) c ON c.author_id = u.{user.id}
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

# The viewer's past per author: the month's day rows, and the week's part.
HISTORY_SQL = statement("""
SELECT {pair_counts.author},
       SUM({pair_counts.impressions}), SUM({pair_counts.likes}), SUM({pair_counts.replies}),
       SUM({pair_counts.retweets}), SUM({pair_counts.negatives}), SUM({pair_counts.long_dwells}),
       SUM({pair_counts.dwells}), SUM({pair_counts.log_dwell}),
       SUM(CASE WHEN {pair_counts.day} >= %(week_start)s THEN {pair_counts.impressions} ELSE 0 END),
       SUM(CASE WHEN {pair_counts.day} >= %(week_start)s
                THEN {pair_counts.likes} + {pair_counts.replies} + {pair_counts.retweets} ELSE 0 END)
  FROM {pair_counts}
 WHERE {pair_counts.viewer} = %(viewer)s
   AND {pair_counts.day} >= %(month_start)s AND {pair_counts.day} <= %(day)s
 GROUP BY {pair_counts.author}
""")
PAIR_COLUMNS = ("aff_impressions", "aff_likes", "aff_replies", "aff_retweets", "aff_negatives", "aff_long_dwells")

# Per candidate tweet: the month's day rows.
TWEET_COUNTS_SQL = statement("""
SELECT {tweet_counts.tweet},
       SUM({tweet_counts.impressions}), SUM({tweet_counts.likes}), SUM({tweet_counts.replies}),
       SUM({tweet_counts.retweets}), SUM({tweet_counts.negatives}),
       SUM({tweet_counts.dwells}), SUM({tweet_counts.log_dwell})
  FROM {tweet_counts}
 WHERE {tweet_counts.tweet} = ANY(%(tweets)s)
   AND {tweet_counts.day} >= %(month_start)s AND {tweet_counts.day} <= %(day)s
 GROUP BY {tweet_counts.tweet}
""")
TWEET_COLUMNS = ("tweet_impressions", "tweet_likes", "tweet_replies", "tweet_retweets", "tweet_negatives")

# Followees who engaged: the followees' likes and retweets of the month, one
# range scan each on (user, kind, created_at), kept where they hit a candidate.
ENGAGED_SQL = statement("""
SELECT {engagement.tweet}, COUNT(DISTINCT {engagement.user})
  FROM {engagement}
 WHERE {engagement.user} = ANY(%(followees)s) AND {engagement.kind} IN ({kind.like}, {kind.retweet})
   AND {engagement.created_at} >= %(month_start_at)s AND {engagement.created_at} < %(at)s
   AND {engagement.tweet} = ANY(%(tweets)s)
 GROUP BY {engagement.tweet}
""")

# What the counters' last day holds from the build time on, for the keys read:
# engagements (a candidate's author's tweets are all the candidates': no list
# of 1,000 tweet ids to plan with), follows of the authors, and their posts.
AFTER_SQL = statement("""
SELECT 'e', e.{engagement.user}, e.{engagement.tweet}, t.{tweet.author}, e.{engagement.kind}, e.{engagement.dwell_ms}
  FROM {engagement} e JOIN {tweet} t ON t.{tweet.id} = e.{engagement.tweet}
 WHERE e.{engagement.created_at} >= %(at)s AND e.{engagement.created_at} < %(day_end)s
   AND (t.{tweet.author} = ANY(%(authors)s) OR e.{engagement.user} = %(viewer)s)
UNION ALL
SELECT 'f', NULL, NULL, {follow_event.followee}, {follow_event.kind}, NULL
  FROM {follow_event}
 WHERE {follow_event.created_at} >= %(at)s AND {follow_event.followee} = ANY(%(authors)s)
UNION ALL
SELECT 't', NULL, NULL, {tweet.author}, NULL, NULL
  FROM {tweet}
 WHERE {tweet.created_at} >= %(at)s AND {tweet.created_at} < %(day_end)s AND {tweet.retweet_of} IS NULL
   AND {tweet.author} = ANY(%(authors)s)
""")

# What the viewer reacted to in the month, for their TextProfile: a range scan
# per kind on (user, kind, created_at).
REACTIONS_SQL = statement("""
SELECT t.{tweet.text}, e.{engagement.kind}, e.{engagement.dwell_ms}
  FROM {engagement} e JOIN {tweet} t ON t.{tweet.id} = e.{engagement.tweet}
 WHERE e.{engagement.user} = %(viewer)s
   AND e.{engagement.kind} IN ({kind.like}, {kind.reply}, {kind.retweet}, {kind.hide}, {kind.report}, {kind.dwell})
   AND e.{engagement.created_at} >= %(month_start_at)s AND e.{engagement.created_at} < %(at)s
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


Amounts = dict[str, float]


def _after(rows: list[tuple], *, viewer: int) -> tuple[dict[int, Amounts], dict[int, Amounts], dict[int, Amounts]]:
    """What AFTER_SQL's rows add to the counters read, per tweet, per author
    and per author of the viewer's pairs, named by feature (and `dwells`,
    `log_dwell`, `week_*` for the sums means are made of)."""
    tweets: dict[int, Amounts] = defaultdict(lambda: defaultdict(float))
    authors: dict[int, Amounts] = defaultdict(lambda: defaultdict(float))
    pairs: dict[int, Amounts] = defaultdict(lambda: defaultdict(float))
    for tag, user, tweet, author, kind, dwell_ms in rows:
        if tag == "f":
            authors[author]["author_followers"] += 1 if kind == FollowEvent.Kind.FOLLOW else -1
        elif tag == "t":
            authors[author]["author_tweets_7d"] += 1
        elif kind == Kind.DWELL:
            log_dwell = math.log((dwell_ms or 0) + 1)
            for amounts in (tweets[tweet], authors[author], *((pairs[author],) if user == viewer else ())):
                amounts["dwells"] += 1
                amounts["log_dwell"] += log_dwell
            if user == viewer and (dwell_ms or 0) >= settings.DWELL_LONG_MS:
                pairs[author]["aff_long_dwells"] += 1
        else:
            if kind in TWEET_COUNTS:
                tweets[tweet][TWEET_COUNTS[kind]] += 1
            if kind in AUTHOR_COUNTS:
                authors[author][AUTHOR_COUNTS[kind]] += 1
            if user == viewer:
                if kind in AFFINITY_COUNTS:
                    pairs[author][AFFINITY_COUNTS[kind]] += 1
                if kind == Kind.IMPRESSION:
                    pairs[author]["week_impressions"] += 1
                elif kind in ACTIONS:
                    pairs[author]["week_actions"] += 1
    return tweets, authors, pairs


NOTHING: Amounts = {}


def serving_features(*, candidate_set: CandidateSet, at: datetime) -> FeatureBatch:
    """Features of every candidate for one viewer at `at`, in six queries
    whatever the number of candidates or the history behind them."""
    candidates = candidate_set.candidates
    viewer = candidate_set.viewer_id
    if not candidates:
        return empty_batch()
    authors = sorted({c.author_id for c in candidates})
    tweet_ids = [c.tweet_id for c in candidates]
    month_start, week_start = window_start(at, AFFINITY_WINDOW), window_start(at, RECENT_WINDOW)
    today = at.astimezone(UTC).date()
    window = {
        "viewer": viewer,
        "at": at,
        "day": today,
        "week_start": week_start.date(),
        "month_start": month_start.date(),
    }
    # First what the last day holds from `at` on, then the counters: a
    # counter read after it holds all of it (and perhaps more, committed
    # in between, which is newer than `at` by a moment).
    day_end = datetime.combine(today, datetime.min.time(), UTC) + DAY
    after = fetch(AFTER_SQL, viewer=viewer, at=at, day_end=day_end, authors=authors)
    tweet_less, author_less, pair_less = _after(after, viewer=viewer)

    # Per author: their audience, output and reception, then the viewer's history with them.
    per_author = np.zeros((len(authors), len(NUMERIC_FEATURES)), dtype=np.float32)
    index_of = {author: i for i, author in enumerate(authors)}
    for author, *counts in fetch(AUTHORS_SQL, authors=authors, **window):
        less = author_less.get(author, NOTHING)
        i = index_of[author]
        for name, count in zip(AUTHOR_COLUMNS, counts, strict=False):
            per_author[i, COLUMN[name]] = count - less.get(name, 0.0)
        dwells, log_dwell = counts[-2] - less.get("dwells", 0.0), counts[-1] - less.get("log_dwell", 0.0)
        per_author[i, COLUMN[AUTHOR_DWELL]] = log_dwell / dwells if dwells > 0 else 0.0
    per_author[:, COLUMN["follows_author"]] = [a in candidate_set.followee_ids for a in authors]

    viewer_counts: Amounts = defaultdict(float)
    author_log_dwell: dict[int, float] = {}
    for author, *counts in fetch(HISTORY_SQL, **window):
        less = pair_less.get(author, NOTHING)
        *pair_counts, dwells, log_dwell, week_impressions, week_actions = counts
        dwells, log_dwell = dwells - less.get("dwells", 0.0), log_dwell - less.get("log_dwell", 0.0)
        i = index_of.get(author)
        if i is not None:
            for name, count in zip(PAIR_COLUMNS, pair_counts, strict=True):
                per_author[i, COLUMN[name]] = count - less.get(name, 0.0)
            if dwells > 0:
                author_log_dwell[i] = log_dwell / dwells
        viewer_counts["dwells"] += dwells
        viewer_counts["log_dwell"] += log_dwell
        viewer_counts["viewer_impressions_7d"] += week_impressions - less.get("week_impressions", 0.0)
        viewer_counts["viewer_actions_7d"] += week_actions - less.get("week_actions", 0.0)
    viewer_log_dwell = viewer_counts["log_dwell"] / viewer_counts["dwells"] if viewer_counts["dwells"] > 0 else 0.0
    for i, mean in author_log_dwell.items():
        per_author[i, COLUMN["aff_dwell_lift"]] = mean - viewer_log_dwell

    # Spread to the candidates, then the per-tweet columns.
    numeric = per_author[np.searchsorted(authors, [c.author_id for c in candidates])]
    at_row = {tweet_id: i for i, tweet_id in enumerate(tweet_ids)}
    rows = fetch(TWEET_COUNTS_SQL, tweets=tweet_ids, **window)
    if rows:
        counts = np.array([row[1:] for row in rows], dtype=np.float64)
        for r, row in enumerate(rows):
            less = tweet_less.get(row[0])
            if less:
                counts[r] -= [less.get(name, 0.0) for name in (*TWEET_COLUMNS, "dwells", "log_dwell")]
        row_of = [at_row[row[0]] for row in rows]
        numeric[np.ix_(row_of, [COLUMN[name] for name in TWEET_COLUMNS])] = counts[:, :5]
        numeric[row_of, COLUMN["tweet_mean_log_dwell"]] = mean_or_zero(counts[:, 6], counts[:, 5])
    engaged = fetch(
        ENGAGED_SQL,
        tweets=tweet_ids,
        followees=sorted(candidate_set.followee_ids),
        month_start_at=month_start,
        at=at,
    )
    for tweet_id, people in engaged:
        numeric[at_row[tweet_id], COLUMN["followees_engaged"]] = people

    def put(name: str, values) -> None:
        numeric[:, COLUMN[name]] = values

    at_s = at.timestamp()
    put("age_h", [(at_s - c.created_at.timestamp()) / 3600 for c in candidates])
    put("is_reply", [c.is_reply for c in candidates])
    put("text_chars", [len(c.text) for c in candidates])
    put("viewer_impressions_7d", viewer_counts["viewer_impressions_7d"])
    put("viewer_actions_7d", viewer_counts["viewer_actions_7d"])
    put("viewer_mean_log_dwell", viewer_log_dwell)
    profile = TextProfile()
    for text, kind, dwell_ms in fetch(REACTIONS_SQL, viewer=viewer, at=at, month_start_at=month_start):
        profile.react(tokens(text), kind, dwell_ms)
    numeric[:, TEXT_COLUMNS] = profile.match_many([c.text for c in candidates])
    return FeatureBatch(
        derived_features(numeric),
        np.array([c.text for c in candidates], dtype=object),
        np.full(len(candidates), viewer, dtype=np.int64),
        np.array([c.author_id for c in candidates], dtype=np.int64),
    )


# --- Retention: the counters' days no window reads ----------------------------


def counters_prune_unread(*, at: datetime) -> int:
    """Delete the counters' day rows older than COUNTERS_KEEP_DAYS before
    `at`: no build at `at` or later reads them (its windows start at most
    AFFINITY_WINDOW back); the days between are a margin. Returns how many."""
    longest = max(AFFINITY_WINDOW, RECENT_WINDOW)
    keep = timedelta(days=settings.COUNTERS_KEEP_DAYS)
    if keep < longest:
        raise ImproperlyConfigured(
            f"COUNTERS_KEEP_DAYS ({settings.COUNTERS_KEEP_DAYS}) is shorter than the longest feature window "
            f"({longest.days} days): builds would read pruned days."
        )
    return counters_prune(before=window_start(at, keep).date())
