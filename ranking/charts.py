"""The Ranking page's chart, laid out on the server: coordinates an SVG
template draws, so the page needs no script and no chart library."""

import math
from dataclasses import dataclass
from datetime import date, timedelta

from ranking.metrics import EngagementReport

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, WIDTH - 16, 16, HEIGHT - 32
X_LABELS_MAX = 8
Y_TICKS = 4


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    day: date
    value: float


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


def _tick_step(span: float) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving at most
    Y_TICKS intervals over `span`."""
    raw = span / Y_TICKS
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def line_chart(*, days: list[date], lines: dict[str, dict[date, float]]) -> LineChart:
    """One line per name over `days`, each a value per day (days without one
    are skipped). The value axis always shows 0, for the metric can go below
    it, and runs between round numbers."""
    values = [value for line in lines.values() for value in line.values()]
    low, high = min([0.0, *values]), max([0.0, *values])
    step = _tick_step(high - low or 1.0)
    # In whole steps (rounded first: 0.25 / 0.05 is a hair above 5).
    low, high = math.floor(round(low / step, 9)) * step, math.ceil(round(high / step, 9)) * step
    if high == low:
        high += step

    def x(index: int) -> float:
        return LEFT + (RIGHT - LEFT) * index / max(len(days) - 1, 1)

    def y(value: float) -> float:
        return BOTTOM - (BOTTOM - TOP) * (value - low) / (high - low)

    every = math.ceil(len(days) / X_LABELS_MAX) or 1
    levels = [low + step * i for i in range(round((high - low) / step) + 1)]
    return LineChart(
        lines=[
            Line(name, [Point(x(i), y(line[day]), day, line[day]) for i, day in enumerate(days) if day in line])
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
