from datetime import date

import numpy as np
import pytest

from feed.models import Engagement
from ranking.experiments import stats
from ranking.experiments.assignment import BUCKETS, INTERLEAVED, bucket
from ranking.experiments.readout import METRIC_NOTE, experiment_readout
from ranking.models import Experiment, Variant
from tests.factories import UserFactory, tweet
from tests.ranking.experiments.world import STARTED, STOPPED, events, experiment_make, request
from users.models import User


def as_dict_of_variants(readout: dict) -> dict[str, dict]:
    return {variant["name"]: variant for variant in readout["variants"]}


@pytest.mark.django_db
def test_ab_readout_per_variant_is_each_users_own_sum_averaged(ab_world):
    readout = experiment_readout(experiment=ab_world).as_dict()

    variants = as_dict_of_variants(readout)
    control, treatment = variants["control"], variants["treatment"]
    assert (readout["start"], readout["end"]) == ("2026-03-02", "2026-03-04")
    assert readout["window"] == {"since": STARTED.isoformat(), "until": STOPPED.isoformat()}
    assert (control["exposed"], control["active"]) == (3, 2)
    assert (treatment["exposed"], treatment["active"]) == (3, 2)
    assert control["metric"]["mean"] == pytest.approx((4 + 0 - 5) / 3)
    assert treatment["metric"]["mean"] == pytest.approx((4 + 1 - 97) / 3)
    low, high = stats.mean_ci([4, 0, -5]).ci_low, stats.mean_ci([4, 0, -5]).ci_high
    assert (control["metric"]["ci_low"], control["metric"]["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    # The README's metric over the same users: total / active.
    assert control["headline"] == pytest.approx(-1 / 2)
    assert treatment["headline"] == pytest.approx(-92 / 2)
    for variant in (control, treatment):
        assert variant["metric"]["mean"] == pytest.approx(variant["headline"] * variant["active"] / variant["exposed"])
    assert readout["metric_note"] == METRIC_NOTE
    assert "headline * active / exposed" in METRIC_NOTE

    assert control["guardrails"]["negative_actions"]["mean"] == pytest.approx(1 / 3)
    assert control["guardrails"]["hides"]["mean"] == pytest.approx(1 / 3)
    assert control["guardrails"]["reports"]["mean"] == 0
    assert control["guardrails"]["long_dwells"]["mean"] == pytest.approx(1 / 3)
    assert treatment["guardrails"]["reports"]["mean"] == pytest.approx(1 / 3)
    assert treatment["guardrails"]["hides"]["mean"] == 0


@pytest.mark.django_db
def test_ab_readout_compares_with_the_first_variant_with_cuped(ab_world):
    readout = experiment_readout(experiment=ab_world).as_dict()

    (comparison,) = readout["comparisons"]
    expected = stats.relative_lift(
        np.array([4.0, 1.0, -97.0]),
        np.array([4.0, 0.0, -5.0]),
        treatment_pre=np.array([2.0, 0.0, 0.0]),
        control_pre=np.array([1.0, 0.0, 2.0]),
    )
    assert (comparison["variant"], comparison["baseline"]) == ("treatment", "control")
    assert comparison["cuped"] is True
    assert comparison["lift"] == pytest.approx(expected.lift)
    assert comparison["lift_ci_low"] == pytest.approx(expected.ci_low)
    assert comparison["p_value"] == pytest.approx(expected.p_value)
    # No reports in control: a relative lift over zero is undefined.
    assert comparison["guardrails"]["reports"]["lift"] is None
    assert comparison["guardrails"]["negative_actions"]["lift"] == pytest.approx(0.0)
    assert readout["srm"] == {"p_value": pytest.approx(1.0), "mismatch": False}
    assert readout["interleaving"] is None


@pytest.mark.django_db
def test_assigned_counts_every_user_by_their_hash(ab_world):
    readout = experiment_readout(experiment=ab_world).as_dict()

    points = [bucket(user_id=pk, salt=ab_world.salt) for pk in User.objects.values_list("pk", flat=True)]
    variants = as_dict_of_variants(readout)
    assert variants["control"]["assigned"] == sum(1 for point in points if point < BUCKETS // 2)
    assert variants["treatment"]["assigned"] == sum(1 for point in points if point >= BUCKETS // 2)


@pytest.mark.django_db
def test_a_window_of_days_counts_only_who_was_exposed_then(ab_world):
    readout = experiment_readout(experiment=ab_world, start=date(2026, 3, 3), end=date(2026, 3, 3)).as_dict()

    variants = as_dict_of_variants(readout)
    assert variants["control"]["exposed"] == 0
    assert variants["control"]["metric"] == {"mean": None, "ci_low": None, "ci_high": None}
    assert variants["treatment"]["exposed"] == 1
    assert variants["treatment"]["metric"] == {"mean": 3.0, "ci_low": None, "ci_high": None}
    assert variants["treatment"]["headline"] is None  # its impressions were the day before
    assert readout["comparisons"][0]["lift"] is None


@pytest.mark.django_db
def test_without_pre_period_events_there_is_no_cuped(ab_world):
    Engagement.objects.filter(created_at__lt=STARTED).delete()

    (comparison,) = experiment_readout(experiment=ab_world).as_dict()["comparisons"]

    assert comparison["cuped"] is False
    # A negative baseline: the lift is the difference over its size, negative for a worse treatment.
    assert comparison["lift"] == pytest.approx(((4 + 1 - 97) / 3 - (4 + 0 - 5) / 3) / abs((4 + 0 - 5) / 3))
    assert comparison["lift"] == pytest.approx(-91)


@pytest.mark.django_db
def test_srm_fires_on_a_skewed_exposure(db):
    experiment = experiment_make(variants=(("control", "latest", 50), ("treatment", "active", 50)))
    users = UserFactory.create_batch(30)
    for i, user in enumerate(users):
        request(user, experiment, "control" if i < 25 else "treatment")

    readout = experiment_readout(experiment=experiment).as_dict()

    assert readout["srm"]["mismatch"] is True
    assert readout["srm"]["p_value"] == pytest.approx(stats.srm([25, 5], [1, 1]).p_value)


@pytest.mark.django_db
def test_the_readout_takes_a_handful_of_queries_whatever_the_size(ab_world, django_assert_max_num_queries):
    target = tweet(text="more")
    for user in UserFactory.create_batch(20):
        request(user, ab_world, "treatment")
        events(user, target, "impression", "like")
    ab_world = Experiment.objects.prefetch_related("variants").get(pk=ab_world.pk)

    with django_assert_max_num_queries(6):
        readout = experiment_readout(experiment=ab_world)

    assert as_dict_of_variants(readout.as_dict())["treatment"]["exposed"] == 23


@pytest.mark.django_db
def test_interleaving_credits_each_action_to_the_team_that_picked_the_item(interleaved_world):
    readout = experiment_readout(experiment=interleaved_world).as_dict()

    chronological = np.array([1.0, 3.0, 0.0])
    model = np.array([7.0, -9.0, 0.0])
    expected = stats.ratio_of_means(model, chronological + model, null=0.5)
    interleaving = readout["interleaving"]
    assert interleaving["teams"] == ["chronological", "model"]
    assert interleaving["preference"] == pytest.approx((7 - 9) / (1 + 3 + 7 - 9))
    assert interleaving["ci_low"] == pytest.approx(expected.ci_low)
    assert interleaving["p_value"] == pytest.approx(expected.p_value)
    assert interleaving["users"] == 3
    assert interleaving["credit"] == [4.0, -2.0]
    assert readout["srm"] == {"p_value": None, "mismatch": False}
    assert readout["comparisons"] == []
    (variant,) = readout["variants"]
    assert variant["name"] == INTERLEAVED
    assert variant["assigned"] == User.objects.count()
    assert (variant["exposed"], variant["active"]) == (3, 1)
    assert variant["metric"]["mean"] == pytest.approx((8 + (3 + 1 - 10) + 1) / 3)


@pytest.mark.django_db
def test_a_draft_reads_out_empty(db):
    experiment = Experiment.objects.create(name="draft", salt="draft")
    Variant.objects.create(experiment=experiment, name="a", ranker="latest", weight=50, order=0)
    Variant.objects.create(experiment=experiment, name="b", ranker="active", weight=50, order=1)

    readout = experiment_readout(experiment=experiment).as_dict()

    assert readout["status"] == "draft"
    assert [v["exposed"] for v in readout["variants"]] == [0, 0]
    assert readout["srm"] == {"p_value": None, "mismatch": False}
