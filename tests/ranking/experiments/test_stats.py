"""The readout's statistics against independent computations on fixed data:
scipy's own tests where scipy has one, else the textbook formula written out
step by step with numpy."""

import math

import numpy as np
import pytest
from scipy import stats as sp

from ranking.experiments import stats

CONTROL = np.array([0.0, 1.5, 3.0, 0.5, 14.0, 2.0, 0.0, 6.5])
TREATMENT = np.array([2.0, 0.0, 4.5, 9.0, 1.0, 3.5, 12.0, 5.0, 0.5])
# Pre-period values of the same users, correlated with the metric.
CONTROL_PRE = np.array([1.0, 2.0, 2.5, 0.0, 11.0, 1.0, 0.5, 5.0])
TREATMENT_PRE = np.array([1.5, 0.5, 3.0, 7.0, 2.0, 2.0, 9.0, 4.0, 0.0])
Z_975 = sp.norm.ppf(0.975)


def test_mean_ci_is_the_t_interval():
    estimate = stats.mean_ci(CONTROL)

    low, high = sp.t.interval(0.95, df=len(CONTROL) - 1, loc=CONTROL.mean(), scale=sp.sem(CONTROL))
    assert estimate.mean == pytest.approx(CONTROL.mean())
    assert (estimate.ci_low, estimate.ci_high) == (pytest.approx(low), pytest.approx(high))


def test_mean_ci_of_too_few_users_is_undefined_not_nan():
    assert stats.mean_ci([]) == stats.Estimate(None, None, None)
    assert stats.mean_ci([3.0]) == stats.Estimate(3.0, None, None)


def test_welch_matches_scipy_ttest_ind_unequal_variances():
    difference = stats.welch(TREATMENT, CONTROL)

    scipy_result = sp.ttest_ind(TREATMENT, CONTROL, equal_var=False)
    interval = scipy_result.confidence_interval(0.95)
    assert difference.difference == pytest.approx(TREATMENT.mean() - CONTROL.mean())
    assert difference.p_value == pytest.approx(scipy_result.pvalue, rel=1e-12)
    assert difference.ci_low == pytest.approx(interval.low, rel=1e-12)
    assert difference.ci_high == pytest.approx(interval.high, rel=1e-12)


def test_welch_matches_scipy_on_a_clear_difference_too():
    rng = np.random.default_rng(7)
    treatment, control = rng.normal(1.0, 3.0, 400), rng.normal(0.0, 1.0, 250)

    difference = stats.welch(treatment, control)

    assert difference.p_value == pytest.approx(sp.ttest_ind(treatment, control, equal_var=False).pvalue, rel=1e-9)
    assert difference.p_value < 1e-6


def test_relative_lift_by_the_delta_method_step_by_step():
    lift = stats.relative_lift(TREATMENT, CONTROL)

    n_t, n_c = len(TREATMENT), len(CONTROL)
    mean_t, mean_c = TREATMENT.sum() / n_t, CONTROL.sum() / n_c
    var_t = ((TREATMENT - mean_t) ** 2).sum() / (n_t - 1)
    var_c = ((CONTROL - mean_c) ** 2).sum() / (n_c - 1)
    # Var(mt/mc) by a first-order Taylor expansion of the ratio around (mt, mc).
    gradient = np.array([1 / mean_c, -mean_t / mean_c**2])
    covariance_of_means = np.diag([var_t / n_t, var_c / n_c])
    se = math.sqrt(gradient @ covariance_of_means @ gradient)
    expected = mean_t / mean_c - 1
    assert lift.lift == pytest.approx(expected)
    assert lift.ci_low == pytest.approx(expected - Z_975 * se)
    assert lift.ci_high == pytest.approx(expected + Z_975 * se)
    assert lift.p_value == pytest.approx(2 * (1 - sp.norm.cdf(abs(expected) / se)))
    assert lift.cuped is False


def test_a_lift_over_a_negative_baseline_is_positive_when_the_treatment_is_better():
    control = -CONTROL - 1  # mean -4.4375
    treatment = control + 2.0  # better by 2

    lift = stats.relative_lift(treatment, control)

    assert lift.lift == pytest.approx(2.0 / abs(control.mean()))
    # The delta method's variance does not depend on the baseline's sign.
    mean_t, mean_c = treatment.mean(), control.mean()
    se = math.sqrt(
        treatment.var(ddof=1) / len(treatment) / mean_c**2 + mean_t**2 * control.var(ddof=1) / len(control) / mean_c**4
    )
    assert lift.ci_low == pytest.approx(lift.lift - Z_975 * se)
    assert lift.ci_high == pytest.approx(lift.lift + Z_975 * se)


def test_cuped_step_by_step():
    lift = stats.relative_lift(TREATMENT, CONTROL, treatment_pre=TREATMENT_PRE, control_pre=CONTROL_PRE)

    y = np.concatenate([TREATMENT, CONTROL])
    x = np.concatenate([TREATMENT_PRE, CONTROL_PRE])
    theta = ((y - y.mean()) * (x - x.mean())).sum() / ((x - x.mean()) ** 2).sum()
    adjusted_t = TREATMENT - theta * (TREATMENT_PRE - x.mean())
    adjusted_c = CONTROL - theta * (CONTROL_PRE - x.mean())
    mean_t, mean_c = adjusted_t.mean(), adjusted_c.mean()
    variance = (
        adjusted_t.var(ddof=1) / len(adjusted_t) / mean_c**2
        + mean_t**2 * adjusted_c.var(ddof=1) / len(adjusted_c) / mean_c**4
    )
    expected = mean_t / mean_c - 1
    assert lift.cuped is True
    assert lift.lift == pytest.approx(expected)
    assert lift.ci_low == pytest.approx(expected - Z_975 * math.sqrt(variance))
    assert lift.ci_high == pytest.approx(expected + Z_975 * math.sqrt(variance))
    # The pre-period explains much of each user's metric: a narrower interval.
    plain = stats.relative_lift(TREATMENT, CONTROL)
    assert lift.ci_high - lift.ci_low < 0.6 * (plain.ci_high - plain.ci_low)


def test_cuped_on_a_large_sample_covers_the_true_lift_with_a_narrower_interval():
    rng = np.random.default_rng(11)
    pre = rng.gamma(2.0, 5.0, 20_000)
    metric = pre + rng.normal(0, 4, 20_000)
    metric[:10_000] *= 1.05  # the first half is the treatment, 5 % better

    plain = stats.relative_lift(metric[:10_000], metric[10_000:])
    cuped = stats.relative_lift(metric[:10_000], metric[10_000:], treatment_pre=pre[:10_000], control_pre=pre[10_000:])

    assert plain.ci_low < 0.05 < plain.ci_high
    assert cuped.ci_low < 0.05 < cuped.ci_high
    assert abs(cuped.lift - 0.05) < abs(plain.lift - 0.05)
    assert cuped.ci_high - cuped.ci_low < 0.5 * (plain.ci_high - plain.ci_low)


def test_cuped_is_skipped_without_variation_before_the_experiment():
    zeros_t, zeros_c = np.zeros(len(TREATMENT)), np.zeros(len(CONTROL))

    lift = stats.relative_lift(TREATMENT, CONTROL, treatment_pre=zeros_t, control_pre=zeros_c)

    assert lift == stats.relative_lift(TREATMENT, CONTROL)


def test_a_lift_over_a_zero_baseline_is_undefined():
    assert stats.relative_lift([1.0, 2.0], [0.0, 0.0]).lift is None
    assert stats.relative_lift([1.0], [1.0, 2.0]).lift is None


def test_srm_is_the_chi_square_goodness_of_fit():
    observed = np.array([5_300, 4_700])
    expected = observed.sum() * np.array([0.5, 0.5])
    statistic = ((observed - expected) ** 2 / expected).sum()

    result = stats.srm(observed, [50, 50])

    assert statistic == pytest.approx(36.0)
    assert result.p_value == pytest.approx(sp.chi2.sf(statistic, df=1))
    assert result.mismatch is True


def test_srm_with_unequal_weights_and_three_arms():
    observed = np.array([2_050, 980, 1_010])
    weights = np.array([50, 25, 25])
    expected = observed.sum() * weights / weights.sum()
    statistic = ((observed - expected) ** 2 / expected).sum()

    result = stats.srm(observed, weights)

    assert result.p_value == pytest.approx(sp.chi2.sf(statistic, df=2))
    assert result.mismatch is False


def test_no_srm_on_a_fair_split():
    assert stats.srm([5_040, 4_960], [50, 50]).mismatch is False
    assert stats.srm([0, 0], [50, 50]) == stats.SampleRatio(None, False)


def test_ratio_of_means_by_the_delta_method_with_covariance():
    numerators = np.array([3.0, 0.0, 5.0, 1.0, 4.0, 2.0, 6.0])
    denominators = np.array([4.0, 1.0, 6.0, 3.0, 4.0, 5.0, 7.0])

    ratio = stats.ratio_of_means(numerators, denominators, null=0.5)

    n = len(numerators)
    mean_n, mean_d = numerators.mean(), denominators.mean()
    covariance = np.cov(numerators, denominators, ddof=1)
    variance = (
        covariance[0, 0] / mean_d**2
        - 2 * mean_n * covariance[0, 1] / mean_d**3
        + mean_n**2 * covariance[1, 1] / mean_d**4
    ) / n
    expected = mean_n / mean_d
    assert ratio.ratio == pytest.approx(expected)
    assert ratio.ci_low == pytest.approx(expected - Z_975 * math.sqrt(variance))
    assert ratio.ci_high == pytest.approx(expected + Z_975 * math.sqrt(variance))
    assert ratio.p_value == pytest.approx(2 * sp.norm.sf(abs(expected - 0.5) / math.sqrt(variance)))
    assert ratio.users == n


def test_users_needed_for_an_ab_test_give_the_power_asked_for():
    rng = np.random.default_rng(3)
    control, treatment = rng.normal(10.0, 4.0, 5_000), rng.normal(10.5, 5.0, 5_000)

    users = stats.users_needed_ab(control, treatment, power=0.95, alpha=0.05)

    # Simulate tests of that size on the same distributions: 95 % of them reject.
    per_arm = users // 2
    trials = 2_000
    simulated_c = rng.normal(control.mean(), control.std(ddof=1), (trials, per_arm))
    simulated_t = rng.normal(treatment.mean(), treatment.std(ddof=1), (trials, per_arm))
    power = (sp.ttest_ind(simulated_t, simulated_c, axis=1, equal_var=False).pvalue < 0.05).mean()
    low, high = sp.binom.interval(0.999, trials, 0.95)
    assert low / trials <= power <= high / trials
    assert stats.users_needed_ab(control, control) is None


def test_users_needed_for_interleaving_give_the_power_asked_for():
    rng = np.random.default_rng(5)
    population = 20_000
    a_credit = rng.poisson(1.0, population) * 1.0
    b_credit = rng.poisson(1.15, population) * 1.0

    users = stats.users_needed_interleaving(a_credit, b_credit, power=0.95, alpha=0.05)

    trials = 1_000
    rejected = 0
    for _ in range(trials):
        sample = rng.integers(0, population, users)
        a, b = a_credit[sample], b_credit[sample]
        rejected += stats.ratio_of_means(b, a + b, null=0.5).p_value < 0.05
    low, high = sp.binom.interval(0.999, trials, 0.95)
    assert low <= rejected <= high


def heavy_tailed_users(rng, n: int) -> np.ndarray:
    """Per-user weighted engagement shaped like this project's: most users
    near zero, a few replies, and a rare report that outweighs everything."""
    likes = rng.poisson(rng.gamma(0.5, 4.0, n)) * 0.5
    replies = rng.poisson(0.2, n) * 13.5
    reports = (rng.random(n) < 0.01) * -369.0
    return likes + replies + reports


def test_aa_false_positive_rate_within_binomial_bounds():
    values = heavy_tailed_users(np.random.default_rng(2026), 4_000)
    rounds = 1_000

    result = stats.aa_false_positive_rate(values, rounds=rounds, seed=1, alpha=0.05)

    low, high = sp.binom.interval(0.999, rounds, 0.05)
    assert low / rounds <= result.false_positive_rate <= high / rounds
    assert len(result.p_values) == rounds
    # And the p-values as a whole come out uniform.
    assert sp.kstest(result.p_values, "uniform").pvalue > 0.001


def test_aa_re_randomisation_is_reproducible_by_seed():
    values = heavy_tailed_users(np.random.default_rng(1), 500)

    first = stats.aa_false_positive_rate(values, rounds=50, seed=9)
    again = stats.aa_false_positive_rate(values, rounds=50, seed=9)

    np.testing.assert_array_equal(first.p_values, again.p_values)
