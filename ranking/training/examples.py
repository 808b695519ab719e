"""The reference evaluator of the spec (ranking.spec) for training: every
impression of a period at once, each as of its own time, from sorted arrays
of the log and of the follow log, in memory. Training builds its examples
with ranking.training.builder (DuckDB, out of core), which the parity tests
hold equal to this one on small worlds; `features_as_of` is this evaluator
for any (viewer, tweet, author, time) queries, which the parity tests hold
equal to serving's and to the builder's. `per_user_cap` and `time_split`
are used by training."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
from django.conf import settings
from django.utils import timezone

from feed.models import Engagement, Tweet
from ranking.serving.features import empty_batch, mean_or_zero
from ranking.serving.text import TextProfile, tokens
from ranking.spec import (
    ACTIONS,
    AFFINITY_COUNTS,
    AFFINITY_WINDOW,
    ATTRIBUTION_WINDOW,
    AUTHOR_COUNTS,
    COLUMN,
    HEADS,
    NEGATIVES,
    NUMERIC_FEATURES,
    RECENT_WINDOW,
    SOCIAL,
    TEXT_COLUMNS,
    TWEET_COUNTS,
    Examples,
    FeatureBatch,
    Kind,
    derived_features,
    window_start,
)
from users.models import FollowEvent

EPOCH = datetime(2000, 1, 1, tzinfo=None)
TIME_BITS = 40  # milliseconds since EPOCH fit 40 bits until 2034; keys get the other 23


def _us(times) -> np.ndarray:
    """Aware datetimes as int64 microseconds since EPOCH."""
    naive = np.array([t.astimezone(UTC).replace(tzinfo=None) for t in times], dtype="datetime64[us]")
    return (naive - np.datetime64(EPOCH, "us")).astype(np.int64)


def _ms(times) -> np.ndarray:
    """Aware datetimes as int64 whole milliseconds since EPOCH (rounded down,
    as ranking.spec.as_of rounds the serving time)."""
    return _us(times) // 1000


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


def _pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a.astype(np.int64) << 32) | b.astype(np.int64)


def _log_arrays(*, since: datetime, until: datetime) -> dict[str, np.ndarray]:
    rows = list(
        Engagement.objects.filter(created_at__gte=since, created_at__lt=until)
        .order_by()
        .values_list("user_id", "tweet_id", "tweet__author_id", "kind", "dwell_ms", "created_at", "feed_request_id")
    )
    columns = list(zip(*rows, strict=True)) if rows else [[]] * 7
    us = _us(columns[5])
    return {
        "user": np.array(columns[0], dtype=np.int64),
        "tweet": np.array(columns[1], dtype=np.int64),
        "author": np.array(columns[2], dtype=np.int64),
        "kind": np.array(columns[3], dtype=object),
        "dwell": np.array([d or 0 for d in columns[4]], dtype=np.int64),
        "us": us,
        "ms": us // 1000,
        "feed_request": np.array([str(r) if r else "" for r in columns[6]], dtype=object),
    }


class FollowGraph:
    """The follow graph as of any time, from the follow log (FollowEvent): an
    edge exists at t when its follows before t outnumber its unfollows before
    t, and a person's followers at t are their follows before t less their
    unfollows before t (the log holds a follow only when an edge was made and
    an unfollow only when one was removed)."""

    def __init__(self, *, until: datetime):
        rows = list(
            FollowEvent.objects.filter(created_at__lt=until)
            .order_by()
            .values_list("follower_id", "followee_id", "kind", "created_at")
        )
        follower = np.array([r[0] for r in rows], dtype=np.int64)
        followee = np.array([r[1] for r in rows], dtype=np.int64)
        unfollow = np.array([r[2] == FollowEvent.Kind.UNFOLLOW for r in rows], dtype=bool)
        ms = _ms([r[3] for r in rows])
        pair = _pair(follower, followee)
        self.made, self.removed = AsOfCounter(pair[~unfollow], ms[~unfollow]), AsOfCounter(pair[unfollow], ms[unfollow])
        self.gained = AsOfCounter(followee[~unfollow], ms[~unfollow])
        self.lost = AsOfCounter(followee[unfollow], ms[unfollow])

    def follows(self, follower: np.ndarray, followee: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Whether each follower followed each followee at t (ms since EPOCH)."""
        pair = _pair(follower, followee)
        return self.made.count(pair, t) > self.removed.count(pair, t)

    def followers(self, followee: np.ndarray, t: np.ndarray) -> np.ndarray:
        return self.gained.count(followee, t) - self.lost.count(followee, t)


def training_examples(
    *, since: datetime | None = None, until: datetime | None = None, now: datetime | None = None
) -> Examples:
    """One labelled example per impression in [since, until): its features as
    of the impression, its labels from what the same viewer did to the same
    tweet within ATTRIBUTION_WINDOW after it. The window ends at the latest
    one ATTRIBUTION_WINDOW before `now` (the clock's, unless given): an
    impression whose attribution window is still open would be labelled from
    half its window."""
    first = Engagement.objects.order_by("created_at").values_list("created_at", flat=True).first()
    last = Engagement.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    if first is None:
        return _empty_examples()
    since = since or first
    until = min(until or last + timedelta(microseconds=1), (now or timezone.now()) - ATTRIBUTION_WINDOW)
    if until <= since:
        return _empty_examples()
    log = _log_arrays(since=window_start(since, AFFINITY_WINDOW), until=until + ATTRIBUTION_WINDOW)
    kind = log["kind"]
    start_us, end_us = _us([since, until])
    shown = np.flatnonzero((kind == Kind.IMPRESSION) & (log["us"] >= start_us) & (log["us"] < end_us))
    if not len(shown):
        return _empty_examples()
    viewer, tweet, author, t = log["user"][shown], log["tweet"][shown], log["author"][shown], log["ms"][shown]

    # Labels: the same viewer, the same tweet, within the attribution window.
    pair = _pair(log["user"], log["tweet"])
    window = int(ATTRIBUTION_WINDOW.total_seconds() * 1000)
    labels = {}
    for head in HEADS:
        mask = _long_dwell(log) if head == "dwell" else kind == head
        labels[head] = (AsOfCounter(pair[mask], log["ms"][mask]).count(_pair(viewer, tweet), t + window, t) > 0).astype(
            np.float32
        )
    features = _features(log, FollowGraph(until=until), viewer=viewer, tweet=tweet, author=author, t=t)
    return Examples(features, labels, log["feed_request"][shown], t / 1000.0 + EPOCH_S)


def features_as_of(
    *, viewer: Sequence[int], tweet: Sequence[int], author: Sequence[int], at: Sequence[datetime]
) -> FeatureBatch:
    """The training evaluator's features of any (viewer, tweet, author)
    queries, each as of its own time `at` (counted in whole milliseconds,
    as training counts): what training would have computed for an
    impression of that tweet by that viewer at that time."""
    if not len(at):
        return empty_batch()
    t = _ms(at)
    until = max(at) + timedelta(milliseconds=1)
    log = _log_arrays(since=window_start(min(at), AFFINITY_WINDOW), until=until)
    return _features(
        log,
        FollowGraph(until=until),
        viewer=np.asarray(viewer, dtype=np.int64),
        tweet=np.asarray(tweet, dtype=np.int64),
        author=np.asarray(author, dtype=np.int64),
        t=t,
    )


DAY_MS = 86_400_000


def _window_start_ms(t: np.ndarray, window: timedelta) -> np.ndarray:
    """ranking.spec.window_start of each t, in ms since EPOCH (a UTC midnight,
    so a day starts at a multiple of DAY_MS)."""
    return (t - int(window.total_seconds() * 1000)) // DAY_MS * DAY_MS


def _long_dwell(log: dict[str, np.ndarray]) -> np.ndarray:
    return (log["kind"] == Kind.DWELL) & (log["dwell"] >= settings.DWELL_LONG_MS)


def _features(
    log: dict[str, np.ndarray],
    graph: FollowGraph,
    *,
    viewer: np.ndarray,
    tweet: np.ndarray,
    author: np.ndarray,
    t: np.ndarray,
) -> FeatureBatch:
    """The spec's features of n (viewer, tweet, author) queries, each as of
    its time t (ms since EPOCH): only events before t count, each within its
    window. `log` must hold every engagement from window_start(min t,
    AFFINITY_WINDOW) to max t."""
    kind = log["kind"]
    numeric = np.zeros((len(t), len(NUMERIC_FEATURES)), dtype=np.float32)

    def counter(mask: np.ndarray, keys: np.ndarray) -> AsOfCounter:
        return AsOfCounter(keys[mask], log["ms"][mask])

    long_dwell = _long_dwell(log)
    viewer_author = _pair(log["user"], log["author"])

    tweets = {
        pk: (text, created, reply_to)
        for pk, text, created, reply_to in Tweet.objects.filter(pk__in=set(tweet.tolist())).values_list(
            "pk", "text", "created_at", "reply_to_id"
        )
    }
    # The age in microseconds, as serving subtracts the tweet's exact time from its whole-millisecond build time.
    created_us = _us([tweets[x][1] for x in tweet])
    numeric[:, COLUMN["age_h"]] = (t * 1000 - created_us) / 3_600_000_000
    numeric[:, COLUMN["is_reply"]] = [tweets[x][2] is not None for x in tweet]
    numeric[:, COLUMN["text_chars"]] = [len(tweets[x][0]) for x in tweet]

    numeric[:, COLUMN["follows_author"]] = graph.follows(viewer, author, t)
    numeric[:, COLUMN["author_follows_viewer"]] = graph.follows(author, viewer, t)
    numeric[:, COLUMN["author_followers"]] = graph.followers(author, t)

    since_30d = _window_start_ms(t, AFFINITY_WINDOW)
    since_7d = _window_start_ms(t, RECENT_WINDOW)
    for event_kind, name in TWEET_COUNTS.items():
        numeric[:, COLUMN[name]] += counter(kind == event_kind, log["tweet"]).count(tweet, t, since_30d)
    numeric[:, COLUMN["followees_engaged"]] = _followees_engaged(log, graph, viewer, tweet, t, since_30d)

    for event_kind, name in AFFINITY_COUNTS.items():
        numeric[:, COLUMN[name]] += counter(kind == event_kind, viewer_author).count(
            _pair(viewer, author), t, since_30d
        )
    numeric[:, COLUMN["aff_long_dwells"]] = counter(long_dwell, viewer_author).count(
        _pair(viewer, author), t, since_30d
    )
    dwell = kind == Kind.DWELL

    def log_dwell_mean(keys: np.ndarray, queries: np.ndarray, t_lo: np.ndarray):
        """Mean log(1 + dwell ms) of the dwells with each query key in [t_lo, t), and their count."""
        dwelt = AsOfCounter(keys[dwell], log["ms"][dwell], np.log1p(log["dwell"][dwell]))
        count = dwelt.count(queries, t, t_lo)
        return mean_or_zero(dwelt.total(queries, t, t_lo), count), count

    viewer_log_dwell, _ = log_dwell_mean(log["user"], viewer, since_30d)
    numeric[:, COLUMN["viewer_mean_log_dwell"]] = viewer_log_dwell
    author_mean, author_dwells = log_dwell_mean(viewer_author, _pair(viewer, author), since_30d)
    numeric[:, COLUMN["aff_dwell_lift"]] = np.where(author_dwells > 0, author_mean - viewer_log_dwell, 0.0)
    numeric[:, COLUMN["tweet_mean_log_dwell"]] = log_dwell_mean(log["tweet"], tweet, since_30d)[0]
    numeric[:, COLUMN["author_mean_log_dwell_7d"]] = log_dwell_mean(log["author"], author, since_7d)[0]

    authored = Tweet.objects.filter(author_id__in=set(author.tolist()), retweet_of__isnull=True)
    author_rows = list(authored.values_list("author_id", "created_at"))
    author_tweet_ms = _ms([r[1] for r in author_rows])
    author_keys = np.array([r[0] for r in author_rows], dtype=np.int64)
    numeric[:, COLUMN["author_tweets_7d"]] = AsOfCounter(author_keys, author_tweet_ms).count(author, t, since_7d)
    for event_kind, name in AUTHOR_COUNTS.items():
        numeric[:, COLUMN[name]] += counter(kind == event_kind, log["author"]).count(author, t, since_7d)
    numeric[:, TEXT_COLUMNS] = _text_profiles(log, viewer, tweet, t, since_30d)
    numeric[:, COLUMN["viewer_impressions_7d"]] = counter(kind == Kind.IMPRESSION, log["user"]).count(
        viewer, t, since_7d
    )
    numeric[:, COLUMN["viewer_actions_7d"]] = counter(np.isin(kind, ACTIONS), log["user"]).count(viewer, t, since_7d)

    return FeatureBatch(
        derived_features(numeric), np.array([tweets[x][0] for x in tweet], dtype=object), viewer, author
    )


EPOCH_S = (EPOCH - datetime(1970, 1, 1)).total_seconds()


def _followees_engaged(log, graph: FollowGraph, viewer, tweet, t, since) -> np.ndarray:
    """How many distinct people the viewer follows at t liked or retweeted
    the tweet in [since, t). The edge's state at t, not at the engagement:
    serving counts the engagers among the followees of its build time."""
    social = np.isin(log["kind"], SOCIAL)
    order = np.lexsort((log["ms"][social], log["tweet"][social]))
    engaged_tweet, engaged_ms = log["tweet"][social][order], log["ms"][social][order]
    engager = log["user"][social][order]
    rows, people = [], []
    for tweet_id, query_rows in _groups(*_sorted(tweet)):
        lo, hi = np.searchsorted(engaged_tweet, [tweet_id, tweet_id + 1])
        if lo == hi:
            continue
        times, users = engaged_ms[lo:hi], engager[lo:hi]
        for row in query_rows:
            within = np.unique(users[np.searchsorted(times, since[row]) : np.searchsorted(times, t[row])])
            rows.append(np.full(len(within), row))
            people.append(within)
    if not rows:
        return np.zeros(len(viewer), dtype=np.float32)
    rows, people = np.concatenate(rows), np.concatenate(people)
    followed = graph.follows(viewer[rows], people, t[rows])
    return np.bincount(rows[followed], minlength=len(viewer)).astype(np.float32)


def _sorted(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`keys` sorted, and the rows they came from."""
    order = np.argsort(keys, kind="stable")
    return keys[order], order


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
    no_labels = {head: np.zeros(0, np.float32) for head in HEADS}
    return Examples(empty_batch(), no_labels, np.array([], dtype=object), np.zeros(0))


def per_user_cap(examples: Examples, *, max_per_user: int) -> np.ndarray:
    """A boolean mask keeping at most `max_per_user` of any one viewer's
    examples, so that no account, however much it floods the log, weighs
    more than that in training or in validation. A viewer over the cap keeps
    examples spread evenly over their time order; the same log always keeps
    the same ones (ties broken by author)."""
    if max_per_user < 1:
        raise ValueError("max_per_user must be at least 1")
    viewers = examples.features.viewer_id
    keep = np.ones(len(viewers), dtype=bool)
    order = np.lexsort((examples.features.author_id, examples.at, viewers))
    sorted_viewers = viewers[order]
    starts = np.flatnonzero(np.r_[True, sorted_viewers[1:] != sorted_viewers[:-1]]) if len(order) else []
    ends = np.r_[starts[1:], len(order)] if len(order) else []
    for start, end in zip(starts, ends, strict=True):
        n = int(end - start)
        if n > max_per_user:
            # Spaced at least one apart, so rounding never picks one twice.
            kept = np.linspace(0, n - 1, max_per_user).round().astype(np.int64)
            dropped = np.ones(n, dtype=bool)
            dropped[kept] = False
            keep[order[start:end][dropped]] = False
    return keep


def time_split(examples: Examples, *, validation_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, validation): validation is the latest
    `validation_share` of the impressions. A feed request is never cut in
    two: it goes where its first impression falls, so validation requests
    are whole for NDCG and nothing of them was trained on."""
    if not 0 < validation_share < 1:
        raise ValueError("validation_share must be between 0 and 1")
    at = np.asarray(examples.at, dtype=np.float64)
    n = len(at)
    if np.asarray(examples.feed_request).dtype.kind in "iu":
        # Integer codes (ranking.training.builder.ShardIndex), -1 for none: those stand alone.
        codes = np.asarray(examples.feed_request, dtype=np.int64)
        _, group = np.unique(np.where(codes < 0, -1 - np.arange(n), codes), return_inverse=True)
    else:
        requests = np.array(["" if r is None else str(r) for r in examples.feed_request], dtype=object)
        # Impressions logged without a feed request stand alone.
        keys = np.where(requests == "", np.array([f"\0{i}" for i in range(n)], dtype=object), requests)
        _, group = np.unique(keys.astype(str), return_inverse=True)
    starts = np.full(int(group.max()) + 1 if n else 0, np.inf)
    np.minimum.at(starts, group, at)
    start = starts[group]
    cutoff = np.sort(start)[min(int(n * (1 - validation_share)), n - 1)] if n else 0.0
    validation = start >= cutoff
    return ~validation, validation
