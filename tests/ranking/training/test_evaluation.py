import json
import math

import numpy as np
import pytest

from ranking.spec import HEADS, NUMERIC_FEATURES, Examples, FeatureBatch
from ranking.training.evaluation import (
    average_precision,
    evaluate,
    log_loss,
    ndcg_at_k,
    relative_cross_entropy,
    roc_auc,
    weighted_sum,
)

WEIGHTS = {"like": 1.0, "reply": 2.0, "retweet": 3.0, "hide": -10.0, "report": -20.0, "dwell": 0.5}


@pytest.fixture
def weights(settings):
    settings.ENGAGEMENT_WEIGHTS = WEIGHTS
    return WEIGHTS


def examples(labels: dict[str, list[float]], requests: list[str]) -> Examples:
    n = len(requests)
    features = FeatureBatch(
        np.zeros((n, len(NUMERIC_FEATURES)), np.float32),
        np.array(["text"] * n, dtype=object),
        np.arange(n, dtype=np.int64),
        np.arange(n, dtype=np.int64),
    )
    full = {head: np.array(labels.get(head, [0.0] * n), dtype=np.float32) for head in HEADS}
    return Examples(features, full, np.array(requests, dtype=object), np.arange(n, dtype=np.float64))


def test_roc_auc_counts_ordered_pairs_and_ties_as_half():
    # Positive-negative pairs: 0.9>0.8, 0.9>0.1, 0.4<0.8, 0.4>0.1 -> 3 of 4.
    assert roc_auc(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.4, 0.1])) == pytest.approx(0.75)
    assert roc_auc(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert roc_auc(np.array([1, 1, 0]), np.array([0.7, 0.7, 0.7])) == pytest.approx(0.5)
    assert roc_auc(np.array([0, 1]), np.array([0.9, 0.1])) == pytest.approx(0.0)


def test_average_precision_by_hand():
    # Descending: 0.9 (+), 0.8 (-), 0.4 (+), 0.1 (-): precision 1/1 and 2/3 at the positives.
    assert average_precision(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.4, 0.1])) == pytest.approx(
        0.5 * 1 + 0.5 * 2 / 3
    )
    # Tied scores are one threshold: 0.9 -> P=1, R=1/2; 0.5 -> P=2/3, R=1.
    assert average_precision(np.array([1, 0, 1]), np.array([0.9, 0.5, 0.5])) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert average_precision(np.array([1, 1, 0]), np.array([0.9, 0.8, 0.1])) == pytest.approx(1.0)


def test_single_class_gives_none_not_a_crash():
    for labels in (np.zeros(4), np.ones(4)):
        assert roc_auc(labels, np.array([0.1, 0.2, 0.3, 0.4])) is None
        assert average_precision(labels, np.array([0.1, 0.2, 0.3, 0.4])) is None
        assert relative_cross_entropy(labels, np.full(4, 0.5)) is None


def test_log_loss_and_rce_by_hand():
    labels = np.array([1, 0, 0, 0])
    baseline = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))  # 0.5623
    assert log_loss(labels, np.full(4, 0.5)) == pytest.approx(math.log(2))
    assert relative_cross_entropy(labels, np.full(4, 0.5)) == pytest.approx(100 * (1 - math.log(2) / baseline))
    # The constant predictor at the set's own rate is the zero of the scale.
    assert relative_cross_entropy(labels, np.full(4, 0.25)) == pytest.approx(0.0, abs=1e-9)
    good = np.array([0.99, 0.01, 0.01, 0.01])
    assert relative_cross_entropy(labels, good) == pytest.approx(100 * (1 + math.log(0.99) / baseline))
    # Certain and wrong is clipped, not infinite.
    assert math.isfinite(log_loss(np.array([1]), np.array([0.0])))


def test_ndcg_by_hand():
    # Gains A=1, B=2, C=0; scores put C, A, B in that order.
    ndcg, counted = ndcg_at_k(
        gains=np.array([1.0, 2.0, 0.0]), scores=np.array([0.5, 0.1, 0.9]), groups=np.array(["r"] * 3)
    )
    dcg = 1 / math.log2(3) + 2 / math.log2(4)
    ideal = 2 + 1 / math.log2(3)
    assert ndcg == pytest.approx(dcg / ideal)
    assert counted == 1


def test_ndcg_shifts_negative_gains_so_pushing_a_hide_down_counts():
    # Gains -10 (a hide), 0, 1 become 0, 10, 11 within the request.
    hide_first, _ = ndcg_at_k(gains=np.array([-10.0, 0.0, 1.0]), scores=np.array([0.9, 0.5, 0.1]), groups=np.zeros(3))
    assert hide_first == pytest.approx((10 / math.log2(3) + 11 / 2) / (11 + 10 / math.log2(3)))
    hide_last, _ = ndcg_at_k(gains=np.array([-10.0, 0.0, 1.0]), scores=np.array([0.1, 0.5, 0.9]), groups=np.zeros(3))
    assert hide_last == pytest.approx(1.0)


def test_ndcg_averages_requests_skips_uninformative_ones_and_cuts_at_k():
    gains = np.array([1.0, 2.0, 0.0, 5.0, 0.0, 0.0, 3.0, 3.0])
    scores = np.array([0.5, 0.1, 0.9, 0.9, 0.1, 0.5, 0.2, 0.1])
    groups = np.array(["a", "a", "a", "b", "b", "b", "c", "c"])  # "c": equal gains, skipped
    ndcg, counted = ndcg_at_k(gains=gains, scores=scores, groups=groups)
    first = (1 / math.log2(3) + 2 / math.log2(4)) / (2 + 1 / math.log2(3))
    assert ndcg == pytest.approx((first + 1.0) / 2)
    assert counted == 2

    # Only the top k positions count: the one good item ranked 11th of 12 is worth nothing.
    gains = np.zeros(12)
    gains[0] = 1.0
    scores = np.linspace(1, 0, 12)
    scores[0] = -1  # ranked last
    assert ndcg_at_k(gains=gains, scores=scores, groups=np.zeros(12))[0] == 0.0
    assert ndcg_at_k(gains=np.ones(3), scores=np.ones(3), groups=np.zeros(3)) == (None, 0)
    assert ndcg_at_k(gains=np.zeros(0), scores=np.zeros(0), groups=np.zeros(0)) == (None, 0)


def test_weighted_sum_uses_the_metric_weights(weights):
    values = {head: np.array([1.0, 0.0]) for head in HEADS}
    values["report"] = np.array([0.0, 1.0])
    assert weighted_sum(values).tolist() == [1 + 2 + 3 - 10 + 0.5, -20.0]
    assert weighted_sum(values, weights=dict.fromkeys(HEADS, 1.0)).tolist() == [5.0, 1.0]


def test_evaluate_reports_every_head_json_ready(weights):
    data = examples(
        {"like": [1, 0, 1, 0, 0, 0], "reply": [0, 1, 0, 0, 0, 0], "hide": [0, 0, 0, 0, 1, 0]},
        ["a", "a", "a", "b", "b", ""],
    )
    predictions = {head: np.full(6, 0.1) for head in HEADS}
    predictions["like"] = np.array([0.9, 0.8, 0.4, 0.1, 0.2, 0.3])
    predictions["reply"] = np.array([0.1, 0.6, 0.1, 0.1, 0.1, 0.1])

    result = evaluate(predictions, data)

    json.dumps(result)  # storable as is in a JSONField
    assert result["examples"] == 6
    like = result["heads"]["like"]
    assert like["positives"] == 2
    assert like["observed_rate"] == pytest.approx(2 / 6, abs=1e-6)
    assert like["mean_predicted"] == pytest.approx(np.mean(predictions["like"]), abs=1e-6)
    assert like["roc_auc"] == pytest.approx(roc_auc(data.labels["like"], predictions["like"]), abs=1e-6)
    assert like["pr_auc"] == pytest.approx(average_precision(data.labels["like"], predictions["like"]), abs=1e-6)
    assert like["rce"] is not None
    # No retweet at all: undefined, not a crash.
    assert result["heads"]["retweet"] == {
        "roc_auc": None,
        "pr_auc": None,
        "rce": None,
        "mean_predicted": pytest.approx(0.1),
        "observed_rate": 0.0,
        "positives": 0,
    }
    # Both requests have differing outcomes (utilities "a": 1, 2, 1; "b": 0,
    # -10); the impression logged without a request is left out.
    assert result["ndcg_requests"] == 2
    scores = weighted_sum(predictions)[:5]
    gains = weighted_sum({head: data.labels[head] for head in HEADS})[:5]
    expected, _ = ndcg_at_k(gains=gains, scores=scores, groups=np.array(["a", "a", "a", "b", "b"]))
    assert result["ndcg_at_10"] == pytest.approx(expected, abs=1e-6)


def test_evaluate_refuses_predictions_of_another_length():
    data = examples({}, ["a", "a"])
    with pytest.raises(ValueError, match="predictions"):
        evaluate({head: np.zeros(3) for head in HEADS}, data)
