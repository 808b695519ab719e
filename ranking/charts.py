"""The Ranking page's chart, laid out on the server: coordinates an SVG
template draws, so the page needs no script and no chart library."""

import math
import statistics
from dataclasses import dataclass
from datetime import date, timedelta

from ranking.metrics import EngagementReport

# The SVG scales to its box, and its text with it: at a phone's width (a
# 330 px box) one unit is ~0.46 px, so the page's CSS sets the axis labels
# to 24 units there (11 px) and these margins leave room for them: the
# value labels left of LEFT, the day labels below BOTTOM and, centred on
# their ticks, both ends of the day axis.
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 88, WIDTH - 48, 16, HEIGHT - 44
X_LABELS_MAX = 7
Y_TICKS = 4
# One outlier day must not flatten the others into a line: values beyond
# Tukey's far-out fences (3 interquartile ranges past the quartiles) are
# drawn at the edge of the plot, marked, when leaving them out at least
# halves the span the axis must cover. Quartiles need a few days first.
OUTLIER_IQRS = 3.0
OUTLIER_MIN_VALUES = 5
OUTLIER_MIN_SQUEEZE = 2.0


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    day: date
    value: float
    off_scale: str = ""  # "above" or "below": drawn at that edge of the plot, not at its value


@dataclass(frozen=True)
class Line:
    name: str
    points: list[Point]

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class LineChart:
    lines: list[Line]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    zero: float  # where the value 0 is drawn
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = RIGHT
    top: int = TOP
    bottom: int = BOTTOM

    @property
    def off_scale(self) -> list[Point]:
        """The points drawn at an edge instead of at their value."""
        return [point for line in self.lines for point in line.points if point.off_scale]


def _tick_step(span: float) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving at most
    Y_TICKS intervals over `span`."""
    raw = span / Y_TICKS
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def _axis_values(values: list[float]) -> list[float]:
    """The values the value axis must cover: all of them, or all but the
    far-out ones when those would squeeze the rest (see OUTLIER_IQRS)."""
    if len(values) < OUTLIER_MIN_VALUES:
        return values
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    low, high = q1 - OUTLIER_IQRS * (q3 - q1), q3 + OUTLIER_IQRS * (q3 - q1)
    kept = [value for value in values if low <= value <= high]

    def span(vs: list[float]) -> float:
        return max([0.0, *vs]) - min([0.0, *vs])

    if span(kept) > 0 and span(values) >= OUTLIER_MIN_SQUEEZE * span(kept):
        return kept
    return values


def line_chart(*, days: list[date], lines: dict[str, dict[date, float]]) -> LineChart:
    """One line per name over `days`, each a value per day (days without one
    are skipped). The value axis always shows 0, for the metric can go below
    it, and runs between round numbers; a far-out value is drawn at the edge
    it is beyond, marked (`off_scale`), so the other days keep the height."""
    values = [value for line in lines.values() for value in line.values()]
    axis = _axis_values(values)
    low, high = min([0.0, *axis]), max([0.0, *axis])
    step = _tick_step(high - low or 1.0)
    # In whole steps (rounded first: 0.25 / 0.05 is a hair above 5).
    low, high = math.floor(round(low / step, 9)) * step, math.ceil(round(high / step, 9)) * step
    if high == low:
        high += step

    def x(index: int) -> float:
        return LEFT + (RIGHT - LEFT) * index / max(len(days) - 1, 1)

    def y(value: float) -> float:
        return BOTTOM - (BOTTOM - TOP) * (min(max(value, low), high) - low) / (high - low)

    def point(index: int, day: date, value: float) -> Point:
        off_scale = "above" if value > high else "below" if value < low else ""
        return Point(x(index), y(value), day, value, off_scale)

    every = math.ceil(len(days) / X_LABELS_MAX) or 1
    levels = [low + step * i for i in range(round((high - low) / step) + 1)]
    return LineChart(
        lines=[
            Line(name, [point(i, day, line[day]) for i, day in enumerate(days) if day in line])
            for name, line in lines.items()
        ],
        x_ticks=[Tick(x(i), f"{day:%b} {day.day}") for i, day in enumerate(days) if i % every == 0],
        # Rounded: 0.1 * 3 is not 0.3 in floating point.
        y_ticks=[Tick(y(level), f"{round(level, 9):g}") for level in levels],
        zero=y(0.0),
    )


def engagement_chart(report: EngagementReport) -> LineChart | None:
    """Weighted engagement per active user per day, a line per variant (of
    a report made `by="variant"`); None when nothing was logged."""
    if not report.days:
        return None
    days = [report.start + timedelta(days=n) for n in range((report.end - report.start).days + 1)]
    lines: dict[str, dict[date, float]] = {}
    for row in report.days:
        name = row["variant"] or "no experiment"
        lines.setdefault(name, {})[date.fromisoformat(row["day"])] = row["weighted_engagement_per_user"]
    return line_chart(days=days, lines=lines)


# The experiment page's interval charts: a row per estimate, its 95 %
# confidence interval drawn as a bar across a shared value axis.
INTERVAL_LEFT = 150  # room for the row labels
INTERVAL_RIGHT = WIDTH - 40  # and for the last value label, centred on its tick
INTERVAL_ROW = 36
INTERVAL_AXIS = 28  # below the rows: the value labels
INTERVAL_CAP = 7


@dataclass(frozen=True)
class IntervalRow:
    label: str
    series: int  # the colour: the variant's place in the experiment
    y: float
    value: float | None
    low: float | None
    high: float | None
    x: float | None  # None: the estimate is not defined (no users yet)
    x_low: float | None
    x_high: float | None

    # The short ticks closing the interval's bar.
    @property
    def cap_top(self) -> float:
        return self.y - INTERVAL_CAP

    @property
    def cap_bottom(self) -> float:
        return self.y + INTERVAL_CAP


@dataclass(frozen=True)
class IntervalChart:
    rows: list[IntervalRow]
    ticks: list[Tick]
    reference: float | None  # where the reference value (no change) is drawn
    height: int
    width: int = WIDTH
    left: int = INTERVAL_LEFT
    right: int = INTERVAL_RIGHT
    top: int = TOP
    bottom: int = 0  # the rows' bottom edge, set from their number


def interval_chart(
    rows: list[tuple[str, int, dict]], *, reference: float | None = None, label=lambda value: f"{value:g}"
) -> IntervalChart:
    """Rows of (label, series, {estimate, low, high}) on one axis running
    between round numbers around every interval (and `reference`, when
    given). Undefined values leave a row's bar out."""
    values = [
        value for _, _, estimate in rows for value in estimate.values() if value is not None and math.isfinite(value)
    ]
    if reference is not None:
        values.append(reference)
    low, high = min(values, default=0.0), max(values, default=1.0)
    step = _tick_step(high - low or abs(high) or 1.0)
    low, high = math.floor(round(low / step, 9)) * step, math.ceil(round(high / step, 9)) * step
    if high == low:
        high += step
    bottom = TOP + INTERVAL_ROW * len(rows)

    def x(value: float | None) -> float | None:
        if value is None or not math.isfinite(value):
            return None
        return INTERVAL_LEFT + (INTERVAL_RIGHT - INTERVAL_LEFT) * (value - low) / (high - low)

    levels = [low + step * i for i in range(round((high - low) / step) + 1)]
    return IntervalChart(
        rows=[
            IntervalRow(
                label=name,
                series=series,
                y=TOP + INTERVAL_ROW * (i + 0.5),
                value=estimate["estimate"],
                low=estimate["low"],
                high=estimate["high"],
                x=x(estimate["estimate"]),
                x_low=x(estimate["low"]),
                x_high=x(estimate["high"]),
            )
            for i, (name, series, estimate) in enumerate(rows)
        ],
        ticks=[Tick(x(level), label(round(level, 9))) for level in levels],
        reference=x(reference),
        height=bottom + INTERVAL_AXIS,
        bottom=bottom,
    )


def readout_charts(readout: dict) -> dict[str, IntervalChart]:
    """An experiment readout's (`as_dict()`) charts: each variant's metric
    with its interval, each comparison's relative lift over the baseline
    with its interval around no change, and an interleaving's preference
    around one half (no preference). A chart is left out when none of its
    estimates is defined yet (nobody exposed, nothing credited)."""
    series = {variant["name"]: i for i, variant in enumerate(readout["variants"])}
    charts = {}
    if readout["variants"]:
        charts["metric"] = interval_chart(
            [
                (
                    variant["name"],
                    i,
                    {
                        "estimate": variant["metric"]["mean"],
                        "low": variant["metric"]["ci_low"],
                        "high": variant["metric"]["ci_high"],
                    },
                )
                for i, variant in enumerate(readout["variants"])
            ]
        )
    if readout["comparisons"]:
        charts["lift"] = interval_chart(
            [
                (
                    f"{comparison['variant']} vs {comparison['baseline']}",
                    series.get(comparison["variant"], 0),
                    {
                        "estimate": comparison["lift"],
                        "low": comparison["lift_ci_low"],
                        "high": comparison["lift_ci_high"],
                    },
                )
                for comparison in readout["comparisons"]
            ],
            reference=0.0,
            label=lambda value: f"{value * 100:+g} %" if value else "0",
        )
    interleaving = readout.get("interleaving")
    if interleaving:
        charts["preference"] = interval_chart(
            [
                (
                    interleaving["teams"][1],
                    1,
                    {
                        "estimate": interleaving["preference"],
                        "low": interleaving["ci_low"],
                        "high": interleaving["ci_high"],
                    },
                )
            ],
            reference=0.5,
        )
    return {name: chart for name, chart in charts.items() if any(row.x is not None for row in chart.rows)}
