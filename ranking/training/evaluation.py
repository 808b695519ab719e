"""Offline evaluation of a ranker on labelled impressions: numpy only, so it
runs anywhere (no TensorFlow, no scikit-learn).

Per head (the conventions of the RecSys Challenge 2020/21 on Twitter data):
ROC-AUC, PR-AUC (average precision), relative cross entropy
RCE = 100 * (1 - logloss(model) / logloss(constant predictor at the evaluated
set's positive rate)), and calibration (mean predicted vs observed rate).
For the feed as a whole: NDCG@10 per feed request of the realised weighted
utility, the same weighted sum the business metric counts.
"""

import math

import numpy as np

from ranking.spec import HEADS, Examples, weighted_sum

NDCG_K = 10
LOGLOSS_EPSILON = 1e-7


def _binary(labels: np.ndarray) -> np.ndarray:
    return np.asarray(labels, dtype=np.float64).reshape(-1) > 0.5


def _average_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks of `scores`, tied values sharing their average rank."""
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)
    first = last - counts + 1
    return ((first + last) / 2.0)[inverse]


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted
    half); None when only one class is present."""
    positive = _binary(labels)
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    if n_positive == 0 or n_negative == 0:
        return None
    ranks = _average_ranks(np.asarray(scores, dtype=np.float64).reshape(-1))
    return float((ranks[positive].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """PR-AUC as average precision: sum over score thresholds of the recall
    gained times the precision there (tied scores form one threshold, as in
    scikit-learn); None when only one class is present."""
    positive = _binary(labels)
    n_positive = int(positive.sum())
    if n_positive == 0 or n_positive == len(positive):
        return None
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_positive = scores[order], positive[order]
    # The last index of each run of equal scores: one threshold per distinct score.
    threshold_ends = np.flatnonzero(np.r_[np.diff(sorted_scores) != 0, True])
    true_positives = np.cumsum(sorted_positive)[threshold_ends]
    precision = true_positives / (threshold_ends + 1)
    recall_gained = np.diff(true_positives, prepend=0) / n_positive
    return float(np.sum(recall_gained * precision))


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean binary cross-entropy, probabilities clipped away from 0 and 1."""
    positive = _binary(labels)
    p = np.clip(np.asarray(probabilities, dtype=np.float64).reshape(-1), LOGLOSS_EPSILON, 1 - LOGLOSS_EPSILON)
    return float(-np.mean(np.where(positive, np.log(p), np.log1p(-p))))


def relative_cross_entropy(labels: np.ndarray, probabilities: np.ndarray) -> float | None:
    """RCE = 100 * (1 - logloss(model) / logloss(constant predictor at the
    set's own positive rate)): 0 is no better than knowing the rate, higher is
    better, negative is worse. None when one class only (the baseline's loss
    is 0)."""
    positive = _binary(labels)
    rate = float(positive.mean()) if len(positive) else 0.0
    if rate in (0.0, 1.0):
        return None
    baseline = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))
    return 100.0 * (1.0 - log_loss(positive, probabilities) / baseline)


def ndcg_at_k(
    *, gains: np.ndarray, scores: np.ndarray, groups: np.ndarray, k: int = NDCG_K
) -> tuple[float | None, int]:
    """Mean NDCG@k over groups (feed requests) of `gains`, ranking each group
    by `scores` (ties keep input order); returns (mean, groups counted).

    Gains are weighted utilities and can be negative (a hide, a report). Per
    group they are shifted so the lowest is 0: the metric then rewards pushing
    the negative items down as much as pulling the positive ones up, and the
    ideal ordering stays "by realised utility". Groups whose gains are all
    equal say nothing about the order and are skipped."""
    gains = np.asarray(gains, dtype=np.float64).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    _, group = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    n_groups = int(group.max()) + 1 if len(group) else 0
    if n_groups == 0:
        return None, 0
    lowest = np.full(n_groups, np.inf)
    highest = np.full(n_groups, -np.inf)
    np.minimum.at(lowest, group, gains)
    np.maximum.at(highest, group, gains)
    shifted = gains - lowest[group]
    group_sizes = np.bincount(group, minlength=n_groups)
    group_starts = np.cumsum(group_sizes) - group_sizes

    def dcg(order: np.ndarray) -> np.ndarray:
        ordered_group = group[order]
        position = np.arange(len(order)) - group_starts[ordered_group]
        discount = np.where(position < k, 1.0 / np.log2(position + 2.0), 0.0)
        return np.bincount(ordered_group, weights=shifted[order] * discount, minlength=n_groups)

    # lexsort: last key is primary. Within a group, by descending value.
    actual = dcg(np.lexsort((-scores, group)))
    ideal = dcg(np.lexsort((-shifted, group)))
    counted = highest > lowest
    if not counted.any():
        return None, 0
    return float(np.mean(actual[counted] / ideal[counted])), int(counted.sum())


def _optional(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def evaluate(predictions: dict[str, np.ndarray], examples: Examples) -> dict:
    """Every offline metric of `predictions` (head -> probability per example)
    against `examples`' labels; JSON-able. Metrics that are undefined on this
    set (AUCs of a head with one class) are None. `ndcg_requests` says how
    many feed requests NDCG@10 averages over."""
    n = len(examples.features)
    heads = {}
    for head in HEADS:
        labels = _binary(examples.labels[head])
        probabilities = np.asarray(predictions[head], dtype=np.float64).reshape(-1)
        if len(probabilities) != n:
            raise ValueError(f"{len(probabilities)} predictions for head {head!r}, {n} examples")
        heads[head] = {
            "roc_auc": _optional(roc_auc(labels, probabilities)),
            "pr_auc": _optional(average_precision(labels, probabilities)),
            "rce": _optional(relative_cross_entropy(labels, probabilities), 4),
            "mean_predicted": _optional(float(probabilities.mean())) if n else None,
            "observed_rate": _optional(float(labels.mean())) if n else None,
            "positives": int(labels.sum()),
        }
    ndcg, counted = feed_ndcg(weighted_sum(predictions), examples)
    return {"heads": heads, "ndcg_at_10": _optional(ndcg), "ndcg_requests": counted, "examples": n}


def feed_ndcg(scores: np.ndarray, examples: Examples) -> tuple[float | None, int]:
    """NDCG@10 of ordering each feed request of `examples` by `scores`, on
    the realised weighted utility; (mean, requests counted)."""
    # Impressions logged outside a feed request have no ranking to judge.
    requests = np.array(["" if r is None else str(r) for r in examples.feed_request], dtype=object)
    in_request = requests != ""
    return ndcg_at_k(
        gains=weighted_sum({head: _binary(examples.labels[head]) for head in HEADS})[in_request],
        scores=np.asarray(scores, dtype=np.float64).reshape(-1)[in_request],
        groups=requests[in_request],
    )


def chronological_ndcg(examples: Examples) -> float | None:
    """NDCG@10 of the chronological feed on `examples`: each request's
    tweets newest first (youngest at its impression), the order a model must
    beat to be worth serving."""
    ndcg, _ = feed_ndcg(-examples.features.column("age_h").astype(np.float64), examples)
    return _optional(ndcg)
