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
