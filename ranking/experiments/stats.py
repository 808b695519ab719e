"""The statistics of an experiment's readout, on per-user values only: each
user is one row whatever their number of requests or events, so rows are
independent (the unit randomised is the unit analysed).

Welch's t for a difference of means; the delta method for a relative lift
and for a ratio of means; CUPED with each user's pre-experiment value; the
sample-ratio-mismatch chi-square; the users a test needs for a given power;
and A/A re-randomisations. The distributions are scipy's. A figure that is
undefined (fewer than two users, no variance, a zero baseline) is None,
never NaN, so every result goes to JSON as it is."""

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

# A sample-ratio mismatch is flagged below this p-value: with a readout on
# every look, a looser threshold would cry wolf.
SRM_ALPHA = 0.001


@dataclass(frozen=True)
class Estimate:
    mean: float | None
    ci_low: float | None
    ci_high: float | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Difference:
    """treatment mean - control mean, by Welch."""

    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Lift:
    """(treatment mean - control mean) / |control mean|, by the delta method."""

    lift: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    cuped: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Ratio:
    """sum(numerators) / sum(denominators) over users, by the delta method."""

    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # against `null` (ratio_of_means)
    users: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SampleRatio:
    p_value: float | None
    mismatch: bool

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AAResult:
    false_positive_rate: float
    p_values: np.ndarray


def _array(values: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _normal_interval(estimate: float, se: float, confidence: float) -> tuple[float | None, float | None]:
    if not math.isfinite(se):
        return None, None
    half = stats.norm.ppf(0.5 + confidence / 2) * se
    return _finite(estimate - half), _finite(estimate + half)


def _normal_p_value(estimate: float, null: float, se: float) -> float | None:
    """Two-sided, for estimate = null. With no sampling error at all the
    estimate either is the null (p = 1) or is not (p = 0)."""
    if not math.isfinite(se):
        return None
    if se == 0:
        return 1.0 if estimate == null else 0.0
    return float(2 * stats.norm.sf(abs(estimate - null) / se))


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> Estimate:
    """The mean with its t interval (n - 1 degrees of freedom)."""
    values = _array(values)
    n = len(values)
    if n == 0:
        return Estimate(None, None, None)
    mean = float(values.mean())
    if n < 2:
        return Estimate(mean, None, None)
    se = values.std(ddof=1) / math.sqrt(n)
    half = stats.t.ppf(0.5 + confidence / 2, df=n - 1) * se
    return Estimate(mean, float(mean - half), float(mean + half))


def welch(
    treatment: Sequence[float] | np.ndarray, control: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> Difference:
    """Difference of means with Welch's t interval and two-sided p-value
    (the Welch-Satterthwaite degrees of freedom), as
    scipy.stats.ttest_ind(treatment, control, equal_var=False)."""
    t, c = _array(treatment), _array(control)
    if len(t) == 0 or len(c) == 0:
        return Difference(None, None, None, None)
    difference = float(t.mean() - c.mean())
    if len(t) < 2 or len(c) < 2:
        return Difference(difference, None, None, None)
    var_t, var_c = t.var(ddof=1) / len(t), c.var(ddof=1) / len(c)
    se = math.sqrt(var_t + var_c)
    if se == 0:
        return Difference(difference, difference, difference, None)
    df = (var_t + var_c) ** 2 / (var_t**2 / (len(t) - 1) + var_c**2 / (len(c) - 1))
    half = stats.t.ppf(0.5 + confidence / 2, df=df) * se
    p_value = 2 * stats.t.sf(abs(difference) / se, df=df)
    return Difference(difference, float(difference - half), float(difference + half), float(p_value))


def cuped_adjust(
    treatment: np.ndarray, control: np.ndarray, treatment_pre: np.ndarray, control_pre: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Y - theta (X - mean X), theta = cov(Y, X) / var(X) pooled over both
    arms (one theta, so the adjustment cannot favour an arm). None when the
    pre-period values do not vary: there is nothing to adjust with."""
    y = np.concatenate([treatment, control])
    x = np.concatenate([treatment_pre, control_pre])
    if len(x) < 2:
        return None
    var_x = x.var(ddof=1)
    if var_x == 0:
        return None
    theta = np.cov(y, x, ddof=1)[0, 1] / var_x
    mean_x = x.mean()
    return treatment - theta * (treatment_pre - mean_x), control - theta * (control_pre - mean_x)


def relative_lift(
    treatment: Sequence[float] | np.ndarray,
    control: Sequence[float] | np.ndarray,
    *,
    treatment_pre: Sequence[float] | np.ndarray | None = None,
    control_pre: Sequence[float] | np.ndarray | None = None,
    confidence: float = 0.95,
) -> Lift:
    """(mean_t - mean_c) / |mean_c|: mean_t / mean_c - 1 when the baseline
    is positive, and still positive when the treatment is better when it is
    negative (weighted engagement can be, with hides and reports weighing
    -74 and -369). Its variance by the delta method,
    Var(mt / mc) ~ var_t / (n_t mc^2) + mt^2 var_c / (n_c mc^4) (the arms
    are independent), a normal interval and the two-sided p-value for a
    lift of 0. With pre-period values (same order as the users), on the
    CUPED-adjusted values."""
    t, c = _array(treatment), _array(control)
    cuped = False
    if treatment_pre is not None and control_pre is not None:
        adjusted = cuped_adjust(t, c, _array(treatment_pre), _array(control_pre))
        if adjusted is not None:
            t, c = adjusted
            cuped = True
    if len(t) < 2 or len(c) < 2:
        return Lift(None, None, None, None, cuped)
    mean_t, mean_c = t.mean(), c.mean()
    if mean_c == 0:
        return Lift(None, None, None, None, cuped)
    lift = float((mean_t - mean_c) / abs(mean_c))
    variance = t.var(ddof=1) / (len(t) * mean_c**2) + mean_t**2 * c.var(ddof=1) / (len(c) * mean_c**4)
    se = math.sqrt(variance)
    low, high = _normal_interval(lift, se, confidence)
    return Lift(lift, low, high, _normal_p_value(lift, 0.0, se), cuped)


def srm(observed_counts: Sequence[int], expected_weights: Sequence[float]) -> SampleRatio:
    """Sample-ratio mismatch: the chi-square goodness of fit of the users
    seen per variant to the variants' weights. A mismatch (p < SRM_ALPHA)
    means the split is broken and no other figure of the readout holds."""
    observed = _array(observed_counts)
    weights = _array(expected_weights)
    total = observed.sum()
    if len(observed) < 2 or total == 0:
        return SampleRatio(None, False)
    expected = total * weights / weights.sum()
    p_value = float(stats.chisquare(observed, expected).pvalue)
    return SampleRatio(p_value, p_value < SRM_ALPHA)


def _ratio_linearised(numerators: np.ndarray, denominators: np.ndarray) -> tuple[float, np.ndarray] | None:
    """The ratio of sums and each user's linearised contribution to it,
    (n_u - R d_u) / mean(d): its sample variance / n is the delta method's
    variance of R, with each user's numerator and denominator correlated."""
    mean_d = denominators.mean()
    if mean_d == 0:
        return None
    ratio = numerators.sum() / denominators.sum()
    return float(ratio), (numerators - ratio * denominators) / mean_d


def ratio_of_means(
    numerators: Sequence[float] | np.ndarray,
    denominators: Sequence[float] | np.ndarray,
    *,
    null: float = 0.5,
    confidence: float = 0.95,
) -> Ratio:
    """sum(numerators) / sum(denominators), one pair per user (clustered by
    user), with the delta method's normal interval and the two-sided p-value
    against `null`."""
    num, den = _array(numerators), _array(denominators)
    n = len(num)
    if n == 0:
        return Ratio(None, None, None, None, 0)
    linearised = _ratio_linearised(num, den)
    if linearised is None:
        return Ratio(None, None, None, None, n)
    ratio, contributions = linearised
    if n < 2:
        return Ratio(ratio, None, None, None, n)
    se = math.sqrt(contributions.var(ddof=1) / n)
    low, high = _normal_interval(ratio, se, confidence)
    return Ratio(ratio, low, high, _normal_p_value(ratio, null, se), n)


def _z_sum(power: float, alpha: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def users_needed_ab(
    control: Sequence[float] | np.ndarray,
    treatment: Sequence[float] | np.ndarray,
    power: float = 0.95,
    alpha: float = 0.05,
) -> int | None:
    """Total users of a 50/50 two-arm test to detect the observed difference
    of means with `power` at two-sided `alpha` (normal approximation, each
    arm's own variance): 2 (z_{1-alpha/2} + z_power)^2 (var_c + var_t) /
    delta^2. None when the observed difference is zero."""
    c, t = _array(control), _array(treatment)
    if len(c) < 2 or len(t) < 2:
        return None
    delta = t.mean() - c.mean()
    if delta == 0:
        return None
    per_arm = _z_sum(power, alpha) ** 2 * (c.var(ddof=1) + t.var(ddof=1)) / delta**2
    return 2 * math.ceil(per_arm)


def users_needed_interleaving(
    a_credit: Sequence[float] | np.ndarray,
    b_credit: Sequence[float] | np.ndarray,
    power: float = 0.95,
    alpha: float = 0.05,
) -> int | None:
    """Users an interleaving test needs to tell the observed preference
    from 0.5 with `power` at two-sided `alpha`: (z_{1-alpha/2} + z_power)^2
    s^2 / (preference - 0.5)^2, s^2 the per-user variance of the
    preference's linearisation (see ratio_of_means)."""
    a, b = _array(a_credit), _array(b_credit)
    if len(a) < 2:
        return None
    linearised = _ratio_linearised(b, a + b)
    if linearised is None:
        return None
    preference, contributions = linearised
    if preference == 0.5:
        return None
    return math.ceil(_z_sum(power, alpha) ** 2 * contributions.var(ddof=1) / (preference - 0.5) ** 2)


def aa_false_positive_rate(
    values: Sequence[float] | np.ndarray, *, rounds: int, seed: int, alpha: float = 0.05
) -> AAResult:
    """Split the same per-user values into two random halves `rounds` times
    and Welch each split: with no effect by construction, the share of
    p-values below `alpha` is the test's false-positive rate (near `alpha`
    when the test is sound, p-values uniform)."""
    values = _array(values)
    rng = np.random.default_rng(seed)
    half = len(values) // 2
    p_values = np.empty(rounds)
    for i in range(rounds):
        shuffled = rng.permutation(values)
        p_value = welch(shuffled[:half], shuffled[half:]).p_value
        p_values[i] = 1.0 if p_value is None else p_value
    return AAResult(float((p_values < alpha).mean()), p_values)
