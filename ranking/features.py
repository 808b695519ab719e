"""The feature specification, shared by training and serving.

Every feature of a (viewer, tweet) pair is defined "as of" a time t and sees
only events strictly before t: served, t is the build time; in training, the
impression's time, so an engagement can never leak into the features of its
own impression. Two evaluators implement the one definition: batched SQL
aggregates for one viewer's candidates (serving), and sorted-array counting
over the whole log for many impressions at once (training). A parity test
holds them equal.

Raw numbers go out (counts, hours, flags); the model normalises them itself,
so training and serving cannot skew on preprocessing.
"""

import functools
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings

from feed.models import Engagement, Tweet
from ranking.candidates import Candidate, CandidateSet
from ranking.database import fetch
from users.models import Follow

FEATURE_SPEC_VERSION = 6
HEADS = ("like", "reply", "retweet", "hide", "report", "dwell")  # "dwell": a long dwell
AFFINITY_WINDOW = timedelta(days=30)
RECENT_WINDOW = timedelta(days=7)
ATTRIBUTION_WINDOW = timedelta(hours=1)  # an action within this of an impression is its label

Kind = Engagement.Kind
NUMERIC_FEATURES = (
    "age_h",
    "is_reply",
    "text_chars",
    "follows_author",
    "author_follows_viewer",
    "author_followers",
    "tweet_impressions",
    "tweet_likes",
    "tweet_replies",
    "tweet_retweets",
    "tweet_negatives",
    "tweet_likes_per_h",
    "tweet_mean_log_dwell",
    "followees_engaged",
    "aff_impressions",
    "aff_likes",
    "aff_replies",
    "aff_retweets",
    "aff_long_dwells",
    "aff_dwell_lift",
    "aff_negatives",
    "author_tweets_7d",
    "author_negatives_7d",
    "author_likes_7d",
    "author_impressions_7d",
    "author_mean_log_dwell_7d",
    "viewer_impressions_7d",
    "viewer_actions_7d",
    "viewer_mean_log_dwell",
    "text_affinity",
    "text_affinity_share",
    "text_aversion",
    "text_dwell_lift",
)
COLUMN = {name: i for i, name in enumerate(NUMERIC_FEATURES)}
TEXT_COLUMNS = [COLUMN[name] for name in ("text_affinity", "text_affinity_share", "text_aversion", "text_dwell_lift")]
AUTHOR_DWELL = "author_mean_log_dwell_7d"
TWEET_COUNTS = {
    Kind.IMPRESSION: "tweet_impressions",
    Kind.LIKE: "tweet_likes",
    Kind.REPLY: "tweet_replies",
    Kind.RETWEET: "tweet_retweets",
    Kind.HIDE: "tweet_negatives",
    Kind.REPORT: "tweet_negatives",
}
AFFINITY_COUNTS = {
    Kind.IMPRESSION: "aff_impressions",
    Kind.LIKE: "aff_likes",
    Kind.REPLY: "aff_replies",
    Kind.RETWEET: "aff_retweets",
    Kind.HIDE: "aff_negatives",
    Kind.REPORT: "aff_negatives",
}
AUTHOR_COUNTS = {  # what the author's tweets received, over RECENT_WINDOW
    Kind.IMPRESSION: "author_impressions_7d",
    Kind.LIKE: "author_likes_7d",
    Kind.HIDE: "author_negatives_7d",
    Kind.REPORT: "author_negatives_7d",
}
ACTIONS = (Kind.LIKE, Kind.REPLY, Kind.RETWEET)
NEGATIVES = (Kind.HIDE, Kind.REPORT)
SOCIAL = (Kind.LIKE, Kind.RETWEET)


@dataclass(frozen=True)
class FeatureBatch:
    """The model's raw inputs for n (viewer, tweet) pairs."""

    numeric: np.ndarray  # float32 [n, len(NUMERIC_FEATURES)]
    text: np.ndarray  # object (str) [n]
    viewer_id: np.ndarray  # int64 [n]
    author_id: np.ndarray  # int64 [n]

    def __len__(self) -> int:
        return len(self.text)

    def subset(self, index) -> "FeatureBatch":
        return FeatureBatch(self.numeric[index], self.text[index], self.viewer_id[index], self.author_id[index])

    def column(self, name: str) -> np.ndarray:
        return self.numeric[:, COLUMN[name]]


@dataclass(frozen=True)
class Examples:
    """Labelled examples, one per impression."""

    features: FeatureBatch
    labels: dict[str, np.ndarray]  # head -> float32 [n] of 0/1
    feed_request: np.ndarray  # object (str) [n]
    at: np.ndarray  # float64 [n], epoch seconds

    def __len__(self) -> int:
        return len(self.features)

    def subset(self, index) -> "Examples":
        return Examples(
            self.features.subset(index),
            {head: labels[index] for head, labels in self.labels.items()},
            self.feed_request[index],
            self.at[index],
        )


def _finish(numeric: np.ndarray) -> np.ndarray:
    """Features derived from others, the same way in both evaluators."""
    numeric[:, COLUMN["tweet_likes_per_h"]] = numeric[:, COLUMN["tweet_likes"]] / np.maximum(
        numeric[:, COLUMN["age_h"]], 1.0
    )
    return numeric


# --- Serving: one viewer, their candidates, one time -------------------------


# Hand-written (ranking/database.py says why); the kinds are Engagement.Kind's values.
# Dwell times are heavy-tailed: the features average LN(1 + ms), a far steadier
# estimate of how much a tweet holds people than the mean of raw times.
TWEET_COUNTS_SQL = """
SELECT tweet_id,
       COUNT(*) FILTER (WHERE kind = 'impression'),
       COUNT(*) FILTER (WHERE kind = 'like'),
       COUNT(*) FILTER (WHERE kind = 'reply'),
       COUNT(*) FILTER (WHERE kind = 'retweet'),
       COUNT(*) FILTER (WHERE kind IN ('hide', 'report')),
       COUNT(DISTINCT user_id) FILTER (WHERE kind IN ('like', 'retweet') AND user_id = ANY(%(followees)s)),
       COUNT(*) FILTER (WHERE kind = 'dwell'),
       COALESCE(SUM(LN(dwell_ms + 1)) FILTER (WHERE kind = 'dwell'), 0)
  FROM feed_engagement
 WHERE tweet_id = ANY(%(tweets)s) AND created_at < %(at)s
 GROUP BY tweet_id
"""
TWEET_COLUMNS = ("tweet_impressions", "tweet_likes", "tweet_replies", "tweet_retweets", "tweet_negatives")

AUTHORS_SQL = """
SELECT u.id,
       (SELECT COUNT(*) FROM users_follow f WHERE f.followee_id = u.id AND f.created_at < %(at)s),
       EXISTS (SELECT 1 FROM users_follow f
                WHERE f.follower_id = u.id AND f.followee_id = %(viewer)s AND f.created_at < %(at)s),
       (SELECT COUNT(*) FROM feed_tweet t
         WHERE t.author_id = u.id AND t.retweet_of_id IS NULL
           AND t.created_at >= %(week_ago)s AND t.created_at < %(at)s),
       COALESCE(r.impressions, 0), COALESCE(r.likes, 0), COALESCE(r.negatives, 0), COALESCE(r.dwells, 0),
       COALESCE(r.log_dwell, 0)
  FROM users_user u
  LEFT JOIN (
        SELECT t.author_id,
               COUNT(*) FILTER (WHERE e.kind = 'impression') AS impressions,
               COUNT(*) FILTER (WHERE e.kind = 'like') AS likes,
               COUNT(*) FILTER (WHERE e.kind IN ('hide', 'report')) AS negatives,
               COUNT(*) FILTER (WHERE e.kind = 'dwell') AS dwells,
               SUM(LN(e.dwell_ms + 1)) FILTER (WHERE e.kind = 'dwell') AS log_dwell
          FROM feed_engagement e JOIN feed_tweet t ON t.id = e.tweet_id
         WHERE t.author_id = ANY(%(authors)s) AND e.created_at >= %(week_ago)s AND e.created_at < %(at)s
         GROUP BY t.author_id
       ) r ON r.author_id = u.id
 WHERE u.id = ANY(%(authors)s)
"""
AUTHOR_COLUMNS = (  # of AUTHORS_SQL, before its dwell count and log-dwell sum
    "author_followers",
    "author_follows_viewer",
    "author_tweets_7d",
    "author_impressions_7d",
    "author_likes_7d",
    "author_negatives_7d",
)

# The viewer's own past, per author and kind of engagement.
HISTORY_SQL = """
SELECT t.author_id, e.kind, COUNT(*),
       COUNT(*) FILTER (WHERE e.dwell_ms >= %(long_ms)s),
       COUNT(*) FILTER (WHERE e.created_at >= %(week_ago)s),
       COALESCE(SUM(LN(e.dwell_ms + 1)), 0)
  FROM feed_engagement e JOIN feed_tweet t ON t.id = e.tweet_id
 WHERE e.user_id = %(viewer)s AND e.created_at >= %(month_ago)s AND e.created_at < %(at)s
 GROUP BY t.author_id, e.kind
"""

# What the viewer reacted to, for their TextProfile.
REACTIONS_SQL = """
SELECT t.text, e.kind, e.dwell_ms
  FROM feed_engagement e JOIN feed_tweet t ON t.id = e.tweet_id
 WHERE e.user_id = %(viewer)s AND e.created_at >= %(month_ago)s AND e.created_at < %(at)s
   AND e.kind IN ('like', 'reply', 'retweet', 'hide', 'report', 'dwell')
"""


def serving_features(*, candidate_set: CandidateSet, at: datetime) -> FeatureBatch:
    """Features of every candidate for one viewer at `at`, in four queries."""
    candidates = candidate_set.candidates
    viewer = candidate_set.viewer_id
    if not candidates:
        return _empty_examples().features
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
        per_author[row_of, COLUMN[AUTHOR_DWELL]] = _mean(received[:, -1], received[:, -2])
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
    rows = fetch(TWEET_COUNTS_SQL, tweets=tweet_ids, followees=list(candidate_set.followee_ids), at=at)
    if rows:
        counts = np.array([row[1:] for row in rows], dtype=np.float64)
        at_row = {tweet_id: i for i, tweet_id in enumerate(tweet_ids)}
        row_of = [at_row[row[0]] for row in rows]
        numeric[np.ix_(row_of, [COLUMN[name] for name in (*TWEET_COLUMNS, "followees_engaged")])] = counts[:, :6]
        numeric[row_of, COLUMN["tweet_mean_log_dwell"]] = _mean(counts[:, 7], counts[:, 6])

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
        _finish(numeric),
        np.array([c.text for c in candidates], dtype=object),
        np.full(len(candidates), viewer, dtype=np.int64),
        np.array([c.author_id for c in candidates], dtype=np.int64),
    )


# --- Training: every impression of a period, each at its own time ------------

EPOCH = datetime(2000, 1, 1, tzinfo=None)
TIME_BITS = 40  # milliseconds since EPOCH fit 40 bits until 2034; keys get the other 23


def _ms(times: np.ndarray) -> np.ndarray:
    """Datetimes (numpy datetime64[us]) as int64 milliseconds since EPOCH."""
    return (times - np.datetime64(EPOCH, "us")).astype("timedelta64[ms]").astype(np.int64)


class AsOfCounter:
    """Counts events per key within [t_lo, t_hi) for many queries at once: one
    sort, then binary searches on (key, time) packed into one int64."""

    def __init__(self, keys: np.ndarray, times_ms: np.ndarray, values: np.ndarray | None = None):
        self.keys, dense = np.unique(keys, return_inverse=True)
        if len(self.keys) >= 2 ** (63 - TIME_BITS):
            raise ValueError("too many distinct keys to pack beside the time")
        packed = (dense.astype(np.int64) << TIME_BITS) | times_ms
        order = np.argsort(packed, kind="stable")
        self.packed = packed[order]
        # Running sums of `values` in the same order: a range's total is a difference.
        weights = values[order] if values is not None else np.ones(len(order))
        self.sums = np.concatenate([[0.0], np.cumsum(weights, dtype=np.float64)])

    def _range(self, keys, t_hi, t_lo):
        index = np.searchsorted(self.keys, keys)
        index = np.minimum(index, max(len(self.keys) - 1, 0))
        found = (self.keys[index] == keys) if len(self.keys) else np.zeros(len(keys), bool)
        base = index.astype(np.int64) << TIME_BITS
        hi = np.searchsorted(self.packed, base | t_hi)
        lo = np.searchsorted(self.packed, base | (t_lo if t_lo is not None else 0))
        return found, lo, hi

    def count(self, keys: np.ndarray, t_hi: np.ndarray, t_lo: np.ndarray | None = None) -> np.ndarray:
        found, lo, hi = self._range(keys, t_hi, t_lo)
        return np.where(found, hi - lo, 0)

    def total(self, keys: np.ndarray, t_hi: np.ndarray, t_lo: np.ndarray | None = None) -> np.ndarray:
        """The sum of the events' values, where `count` counts them."""
        found, lo, hi = self._range(keys, t_hi, t_lo)
        return np.where(found, self.sums[hi] - self.sums[lo], 0.0)


def _mean(total, count):
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def _pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a.astype(np.int64) << 32) | b.astype(np.int64)


def _log_arrays(*, since: datetime, until: datetime) -> dict[str, np.ndarray]:
    rows = list(
        Engagement.objects.filter(created_at__gte=since, created_at__lt=until)
        .order_by()
        .values_list("user_id", "tweet_id", "tweet__author_id", "kind", "dwell_ms", "created_at", "feed_request_id")
    )
    columns = list(zip(*rows, strict=True)) if rows else [[]] * 7
    return {
        "user": np.array(columns[0], dtype=np.int64),
        "tweet": np.array(columns[1], dtype=np.int64),
        "author": np.array(columns[2], dtype=np.int64),
        "kind": np.array(columns[3], dtype=object),
        "dwell": np.array([d or 0 for d in columns[4]], dtype=np.int64),
        "ms": _ms(np.array([t.replace(tzinfo=None) for t in columns[5]], dtype="datetime64[us]")),
        "feed_request": np.array([str(r) if r else "" for r in columns[6]], dtype=object),
    }


def training_examples(*, since: datetime | None = None, until: datetime | None = None) -> Examples:
    """One labelled example per impression in [since, until): its features as
    of the impression, its labels from what the same viewer did to the same
    tweet within ATTRIBUTION_WINDOW after it."""
    first = Engagement.objects.order_by("created_at").values_list("created_at", flat=True).first()
    last = Engagement.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    if first is None:
        return _empty_examples()
    since = since or first
    until = until or last + timedelta(microseconds=1)
    log = _log_arrays(since=since - AFFINITY_WINDOW, until=until + ATTRIBUTION_WINDOW)
    kind = log["kind"]
    start_ms, end_ms = _ms(np.array([since.replace(tzinfo=None), until.replace(tzinfo=None)], dtype="datetime64[us]"))
    shown = np.flatnonzero((kind == Kind.IMPRESSION) & (log["ms"] >= start_ms) & (log["ms"] < end_ms))
    if not len(shown):
        return _empty_examples()
    viewer, tweet, author, t = log["user"][shown], log["tweet"][shown], log["author"][shown], log["ms"][shown]
    n = len(shown)
    numeric = np.zeros((n, len(NUMERIC_FEATURES)), dtype=np.float32)

    def counter(mask: np.ndarray, keys: np.ndarray) -> AsOfCounter:
        return AsOfCounter(keys[mask], log["ms"][mask])

    long_dwell = (kind == Kind.DWELL) & (log["dwell"] >= settings.DWELL_LONG_MS)
    pair, viewer_author = _pair(log["user"], log["tweet"]), _pair(log["user"], log["author"])

    # Labels: the same viewer, the same tweet, within the attribution window.
    window = int(ATTRIBUTION_WINDOW.total_seconds() * 1000)
    labels = {}
    for head in HEADS:
        mask = long_dwell if head == "dwell" else kind == head
        labels[head] = (counter(mask, pair).count(_pair(viewer, tweet), t + window, t) > 0).astype(np.float32)

    tweets = {
        pk: (text, created, reply_to)
        for pk, text, created, reply_to in Tweet.objects.filter(pk__in=set(tweet.tolist())).values_list(
            "pk", "text", "created_at", "reply_to_id"
        )
    }
    created = _ms(np.array([tweets[x][1].replace(tzinfo=None) for x in tweet], dtype="datetime64[us]"))
    numeric[:, COLUMN["age_h"]] = (t - created) / 3_600_000
    numeric[:, COLUMN["is_reply"]] = [tweets[x][2] is not None for x in tweet]
    numeric[:, COLUMN["text_chars"]] = [len(tweets[x][0]) for x in tweet]

    follows = list(Follow.objects.values_list("follower_id", "followee_id", "created_at"))
    follower = np.array([f[0] for f in follows], dtype=np.int64)
    followee = np.array([f[1] for f in follows], dtype=np.int64)
    follow_ms = _ms(np.array([f[2].replace(tzinfo=None) for f in follows], dtype="datetime64[us]"))
    edges = AsOfCounter(_pair(follower, followee), follow_ms)
    numeric[:, COLUMN["follows_author"]] = edges.count(_pair(viewer, author), t) > 0
    numeric[:, COLUMN["author_follows_viewer"]] = edges.count(_pair(author, viewer), t) > 0
    numeric[:, COLUMN["author_followers"]] = AsOfCounter(followee, follow_ms).count(author, t)

    for event_kind, name in TWEET_COUNTS.items():
        numeric[:, COLUMN[name]] += counter(kind == event_kind, log["tweet"]).count(tweet, t)
    numeric[:, COLUMN["followees_engaged"]] = _followees_engaged(log, viewer, tweet, t, follower, followee, follow_ms)

    since_30d = t - int(AFFINITY_WINDOW.total_seconds() * 1000)
    since_7d = t - int(RECENT_WINDOW.total_seconds() * 1000)
    for event_kind, name in AFFINITY_COUNTS.items():
        numeric[:, COLUMN[name]] += counter(kind == event_kind, viewer_author).count(
            _pair(viewer, author), t, since_30d
        )
    numeric[:, COLUMN["aff_long_dwells"]] = counter(long_dwell, viewer_author).count(
        _pair(viewer, author), t, since_30d
    )
    dwell = kind == Kind.DWELL

    def log_dwell_mean(keys: np.ndarray, queries: np.ndarray, t_lo: np.ndarray | None = None):
        """Mean log(1 + dwell ms) of the dwells with each query key in [t_lo, t), and their count."""
        dwelt = AsOfCounter(keys[dwell], log["ms"][dwell], np.log1p(log["dwell"][dwell]))
        count = dwelt.count(queries, t, t_lo)
        return _mean(dwelt.total(queries, t, t_lo), count), count

    viewer_log_dwell, _ = log_dwell_mean(log["user"], viewer, since_30d)
    numeric[:, COLUMN["viewer_mean_log_dwell"]] = viewer_log_dwell
    author_mean, author_dwells = log_dwell_mean(viewer_author, _pair(viewer, author), since_30d)
    numeric[:, COLUMN["aff_dwell_lift"]] = np.where(author_dwells > 0, author_mean - viewer_log_dwell, 0.0)
    numeric[:, COLUMN["tweet_mean_log_dwell"]] = log_dwell_mean(log["tweet"], tweet)[0]
    numeric[:, COLUMN["author_mean_log_dwell_7d"]] = log_dwell_mean(log["author"], author, since_7d)[0]

    authored = Tweet.objects.filter(author_id__in=set(author.tolist()), retweet_of__isnull=True)
    author_rows = list(authored.values_list("author_id", "created_at"))
    author_tweet_ms = _ms(np.array([r[1].replace(tzinfo=None) for r in author_rows], dtype="datetime64[us]"))
    author_keys = np.array([r[0] for r in author_rows], dtype=np.int64)
    numeric[:, COLUMN["author_tweets_7d"]] = AsOfCounter(author_keys, author_tweet_ms).count(author, t, since_7d)
    for event_kind, name in AUTHOR_COUNTS.items():
        numeric[:, COLUMN[name]] += counter(kind == event_kind, log["author"]).count(author, t, since_7d)
    numeric[:, TEXT_COLUMNS] = _text_profiles(log, viewer, tweet, t, since_30d)
    numeric[:, COLUMN["viewer_impressions_7d"]] = counter(kind == Kind.IMPRESSION, log["user"]).count(
        viewer, t, since_7d
    )
    numeric[:, COLUMN["viewer_actions_7d"]] = counter(np.isin(kind, ACTIONS), log["user"]).count(viewer, t, since_7d)

    features = FeatureBatch(_finish(numeric), np.array([tweets[x][0] for x in tweet], dtype=object), viewer, author)
    return Examples(features, labels, log["feed_request"][shown], t / 1000.0 + EPOCH_S)


EPOCH_S = (EPOCH - datetime(1970, 1, 1)).total_seconds()


def _followees_engaged(log, viewer, tweet, t, follower, followee, follow_ms) -> np.ndarray:
    """How many of the viewer's followees liked or retweeted the tweet before t."""
    social = np.isin(log["kind"], SOCIAL)
    engagers: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for user, x, ms in zip(log["user"][social], log["tweet"][social], log["ms"][social], strict=True):
        engagers[int(x)].append((int(user), int(ms)))
    follow_since = {(int(a), int(b)): int(ms) for a, b, ms in zip(follower, followee, follow_ms, strict=True)}
    counts = np.zeros(len(viewer), dtype=np.float32)
    for i, (v, x, ms) in enumerate(zip(viewer.tolist(), tweet.tolist(), t.tolist(), strict=True)):
        if x in engagers:
            counts[i] = len({u for u, when in engagers[x] if when < ms and follow_since.get((v, u), ms) < ms})
    return counts


PUNCTUATION = "#@.,!?:;\"'()"


@functools.lru_cache(maxsize=100_000)
def tokens(text: str) -> tuple[str, ...]:
    """The words of a tweet, as the text-affinity feature counts them. Cached:
    a worker meets the same tweets in many viewers' candidates and histories."""
    return tuple(word for word in (w.strip(PUNCTUATION) for w in text.lower().split()) if word)


class TextProfile:
    """The words of what a viewer reacted to: liked, replied to, retweeted or
    long-dwelt on (positive), hid or reported (negative), and how long they
    looked at tweets with each word (every dwell, as log(1 + ms))."""

    def __init__(self):
        self.positive, self.negative, self.positive_words = Counter(), Counter(), 0
        self.log_dwell, self.dwells, self.all_log_dwell, self.all_dwells = Counter(), Counter(), 0.0, 0

    def react(self, words: tuple[str, ...], kind: str, dwell_ms: int | None, sign: int = 1) -> None:
        """Count one reaction in (sign 1) or, leaving the window, out (-1)."""
        unique = dict.fromkeys(words, sign)
        if kind in NEGATIVES:
            self.negative.update(unique)
        if kind == Kind.DWELL:
            log_dwell = math.log1p(dwell_ms or 0)
            self.log_dwell.update(dict.fromkeys(words, sign * log_dwell))
            self.dwells.update(unique)
            self.all_log_dwell += sign * log_dwell
            self.all_dwells += sign
        if kind in ACTIONS or (kind == Kind.DWELL and (dwell_ms or 0) >= settings.DWELL_LONG_MS):
            self.positive.update(unique)
            self.positive_words += sign * len(unique)

    def word_scores(self, word: str) -> tuple[float, float, float, float]:
        """(affinity, affinity share, aversion, dwell lift) of one word:
        log1p(its positive count), that count as a share of all positive
        words, log1p(its negative count), and how much longer than usual (in
        log dwell) the viewer looks at tweets with it (0 if never seen)."""
        count = self.positive[word]
        share = count / self.positive_words if self.positive_words else 0.0
        lift = 0.0
        if self.dwells[word] > 0:
            lift = self.log_dwell[word] / self.dwells[word] - self.all_log_dwell / self.all_dwells
        return math.log1p(count), share, math.log1p(self.negative[word]), lift

    def match(self, text: str) -> tuple[float, float, float, float]:
        """The mean `word_scores` of a tweet's words."""
        words = tokens(text)
        if not words:
            return 0.0, 0.0, 0.0, 0.0
        return tuple(sum(scores) / len(words) for scores in zip(*map(self.word_scores, words), strict=True))

    def match_many(self, texts: list[str]) -> np.ndarray:
        """`match` of many texts at once [n, 4]: each distinct word scored
        once, then summed per text with one numpy reduction (a feed's
        candidates share most of their words)."""
        vocabulary: dict[str, int] = {}
        word_rows, lengths = [], np.zeros(len(texts))
        for i, text in enumerate(texts):
            words = tokens(text)
            word_rows.extend(vocabulary.setdefault(word, len(vocabulary)) for word in words)
            lengths[i] = len(words)
        scores = np.array([self.word_scores(word) for word in vocabulary] or np.zeros((0, 4))).reshape(-1, 4)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        sums = np.zeros((len(texts), 4))
        has_words = lengths > 0
        if word_rows:
            sums[has_words] = np.add.reduceat(scores[word_rows], starts[has_words], axis=0)
        return sums / np.maximum(lengths, 1)[:, None]


def _text_profiles(log, viewer, tweet, t, since) -> np.ndarray:
    """TextProfile.match for every impression, as of its time: per viewer,
    one sweep through their impressions and reactions in time order, adding
    reactions as they happen and dropping them as they leave the window."""
    reacted = np.isin(log["kind"], (*ACTIONS, *NEGATIVES, Kind.DWELL))
    texts = dict(Tweet.objects.filter(pk__in=set(log["tweet"][reacted].tolist())).values_list("pk", "text"))
    texts.update(dict(Tweet.objects.filter(pk__in=set(tweet.tolist())).values_list("pk", "text")))
    history: dict[int, list[tuple[int, tuple[str, ...], str, int]]] = defaultdict(list)
    for i in np.flatnonzero(reacted)[np.lexsort((log["ms"][reacted], log["user"][reacted]))]:
        words = tokens(texts[int(log["tweet"][i])])
        history[int(log["user"][i])].append((int(log["ms"][i]), words, log["kind"][i], int(log["dwell"][i])))
    matches = np.zeros((len(viewer), 4), dtype=np.float32)
    order = np.lexsort((t, viewer))
    for user, rows in _groups(viewer[order], order):
        events, profile, added, dropped = history.get(user, []), TextProfile(), 0, 0
        for row in rows:
            while added < len(events) and events[added][0] < t[row]:
                profile.react(*events[added][1:])
                added += 1
            while dropped < added and events[dropped][0] < since[row]:
                profile.react(*events[dropped][1:], sign=-1)
                dropped += 1
            matches[row] = profile.match(texts[int(tweet[row])])
    return matches


def _groups(keys: np.ndarray, rows: np.ndarray):
    """(key, rows) runs of equal, sorted keys."""
    bounds = np.flatnonzero(np.diff(keys)) + 1
    for chunk_keys, chunk_rows in zip(np.split(keys, bounds), np.split(rows, bounds), strict=True):
        if len(chunk_rows):
            yield int(chunk_keys[0]), chunk_rows


def _empty_examples() -> Examples:
    empty = FeatureBatch(
        np.zeros((0, len(NUMERIC_FEATURES)), np.float32),
        np.array([], dtype=object),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
    )
    return Examples(empty, {head: np.zeros(0, np.float32) for head in HEADS}, np.array([], dtype=object), np.zeros(0))


def candidate_reasons(*, candidate: Candidate, features: Sequence[float], names: dict[int, str]) -> list[str]:
    """Why a viewer sees a tweet, in words, from its features (the main ones first)."""
    author = names.get(candidate.author_id, "this author")
    reasons = []
    if features[COLUMN["aff_likes"]] >= 2:
        reasons.append(f"You often like @{author}")
    elif features[COLUMN["aff_replies"]] >= 1:
        reasons.append(f"You reply to @{author}")
    engaged = int(features[COLUMN["followees_engaged"]])
    if engaged >= 1:
        reasons.append(f"Liked by {engaged} {'person' if engaged == 1 else 'people'} you follow")
    if candidate.via_user_id and candidate.via_user_id in names:
        reasons.append(f"Retweeted by @{names[candidate.via_user_id]}")
    if features[COLUMN["follows_author"]] and not reasons:
        reasons.append(f"You follow @{author}")
    if features[COLUMN["tweet_likes_per_h"]] >= 1 and len(reasons) < 2:
        reasons.append("Popular right now")
    return reasons[:2]
