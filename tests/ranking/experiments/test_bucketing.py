import numpy as np
from scipy import stats as sp

from ranking.experiments.assignment import BUCKETS, Arm, RunningExperiment, bucket
from ranking.models import Experiment

USER_IDS = range(1, 100_001)


def buckets(salt: str) -> np.ndarray:
    return np.array([bucket(user_id=user_id, salt=salt) for user_id in USER_IDS])


def test_a_users_bucket_is_stable():
    assert [bucket(user_id=i, salt="exp-1") for i in range(1, 1000)] == [
        bucket(user_id=i, salt="exp-1") for i in range(1, 1000)
    ]
    assert bucket(user_id=42, salt="exp-1") == bucket(user_id=42, salt="exp-1")


def test_buckets_are_uniform_within_chi_square_bounds_over_100000_ids():
    counts = np.bincount(buckets("exp-1"), minlength=BUCKETS)

    assert counts.sum() == len(USER_IDS)
    assert sp.chisquare(counts).pvalue > 0.001
    # Coarser too: a hundred slices of 1 % each, as variants' weights take them.
    assert sp.chisquare(counts.reshape(100, -1).sum(axis=1)).pvalue > 0.001


def test_a_new_salt_is_a_new_split():
    first, second = buckets("exp-1"), buckets("exp-2")

    # Independent: a user's half under one salt says nothing about the other.
    table = np.histogram2d(first < BUCKETS // 2, second < BUCKETS // 2, bins=2)[0]
    assert sp.chi2_contingency(table).pvalue > 0.001
    assert (first == second).mean() < 0.001


def test_weights_split_users_in_proportion():
    running = RunningExperiment(
        1, "split", Experiment.Design.AB, "split", (Arm("control", "latest", 30), Arm("treatment", "active", 50))
    )
    variants = [running.assignment_for(user_id) for user_id in USER_IDS]
    counts = [
        sum(1 for a in variants if a is not None and a.variant == "control"),
        sum(1 for a in variants if a is not None and a.variant == "treatment"),
        sum(1 for a in variants if a is None),
    ]

    assert sp.chisquare(counts, np.array([0.3, 0.5, 0.2]) * len(USER_IDS)).pvalue > 0.001
