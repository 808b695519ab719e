"""The ranking's specification, shared by the feeds workers, the training
worker and the web process: the heads, the feature names and their windows,
the model's raw inputs, and the score formula.

Every feature of a (viewer, tweet) pair is defined "as of" a time t and sees
only events strictly before t: served, t is the build time; in training, the
impression's time, so an engagement can never leak into the features of its
own impression. Two evaluators implement the one definition: key lookups in
the counters kept on write for one viewer's candidates
(ranking.serving.features) and sorted-array counting over the whole log
(ranking.training.examples). A parity test holds them equal, and the
`feature_skew` command checks what was actually served.

What "as of t" means, for both:
- t is a whole millisecond (`as_of`): training counts in milliseconds, so a
  build time is rounded down to one, and an event in the same millisecond
  as t is counted by neither.
- Every count has a window of whole UTC days ending at t (`window_start`):
  from the start of the UTC day AFFINITY_WINDOW or RECENT_WINDOW before t
  up to t. The viewer-author affinity, the viewer's mean dwell, the text
  profile and a tweet's own engagements (its counts, mean log dwell and
  followees who engaged) over AFFINITY_WINDOW; the author's output and
  reception and the viewer's activity over RECENT_WINDOW. Whole days are
  what the counters kept on write (feed.counters) sum: serving adds a
  window's day rows per key and takes off what its last day holds from t
  on; training counts the log over the same bounds. Nothing counts
  all-time, so neither evaluator depends on how far back it can read.
- Follows are history: an edge (and a follower count) is what the follow
  log says it was at t. Serving reads the graph at its build time, which is
  the same thing (a follower count is kept on the user: less the log's
  follows from t on, plus its unfollows); training reads the log (users.FollowEvent), so an
  unfollow never changes the features of impressions served before it.
  "Followees who engaged" counts the people followed at t, whenever they
  engaged within the window.
- Training labels an impression only once its ATTRIBUTION_WINDOW is over.

Plain Python, no numpy import: the web process reads FEATURE_SPEC_VERSION
from here and must stay light. The arrays below are only indexed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings

from feed.models import Engagement

if TYPE_CHECKING:
    import numpy as np

# Raise it whenever a feature's meaning, order or count changes: a model
# trained on another spec is refused by the registry and by the scorer.
FEATURE_SPEC_VERSION = 8
HEADS = ("like", "reply", "retweet", "hide", "report", "dwell")  # "dwell": a long dwell
AFFINITY_WINDOW = timedelta(days=30)
RECENT_WINDOW = timedelta(days=7)
ATTRIBUTION_WINDOW = timedelta(hours=1)  # an action within this of an impression is its label
DAY = timedelta(days=1)
if AFFINITY_WINDOW % DAY or RECENT_WINDOW % DAY:
    raise ValueError("feature windows are whole days: the counters are kept per day")

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

# What a served feature row was computed under, stored beside it
# (feed.ServedItem.feature_spec): rows of another spec are not comparable.
FEATURE_SPEC_FINGERPRINT = hashlib.sha256(
    repr((FEATURE_SPEC_VERSION, NUMERIC_FEATURES, AFFINITY_WINDOW, RECENT_WINDOW, ATTRIBUTION_WINDOW, HEADS)).encode()
).hexdigest()[:12]


def as_of(at: datetime) -> datetime:
    """`at` rounded down to its whole millisecond: the time features are
    computed as of, so that both evaluators count the same events."""
    return at.replace(microsecond=at.microsecond - at.microsecond % 1000)


def window_start(at: datetime, window: timedelta) -> datetime:
    """Where a feature window ending at `at` starts: midnight UTC of the day
    `window` before `at`. A window of N days spans N whole days and the part
    of `at`'s own day before it, the days the counters are kept by."""
    start = (at - window).astimezone(UTC)
    return start.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class FeatureBatch:
    """The model's raw inputs for n (viewer, tweet) pairs."""

    numeric: np.ndarray  # float32 [n, len(NUMERIC_FEATURES)]
    text: np.ndarray  # object (str) [n]
    viewer_id: np.ndarray  # int64 [n]
    author_id: np.ndarray  # int64 [n]

    def __len__(self) -> int:
        return len(self.text)

    def subset(self, index) -> FeatureBatch:
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

    def subset(self, index) -> Examples:
        return Examples(
            self.features.subset(index),
            {head: labels[index] for head, labels in self.labels.items()},
            self.feed_request[index],
            self.at[index],
        )


def derived_features(numeric: np.ndarray) -> np.ndarray:
    """Fill the features derived from others, the same way in both evaluators."""
    numeric[:, COLUMN["tweet_likes_per_h"]] = numeric[:, COLUMN["tweet_likes"]] / numeric[:, COLUMN["age_h"]].clip(
        min=1.0
    )
    return numeric


def weighted_sum(values: dict[str, np.ndarray], *, weights: dict[str, float] | None = None) -> np.ndarray:
    """The score formula: sum over heads of weight x value. The ranking score
    when `values` are probabilities, the realised utility when they are 0/1
    labels. Weights default to settings.ENGAGEMENT_WEIGHTS, the business
    metric's, so the ranker optimises what the metric measures."""
    weights = settings.ENGAGEMENT_WEIGHTS if weights is None else weights
    return sum(weights[head] * values[head].astype("float64") for head in HEADS)
