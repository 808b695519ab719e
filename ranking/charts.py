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


def line_chart(*, days: list[date], lines: dict[str, dict[date, float]]) -> LineChart:
    """One line per name over `days`, each a value per day (days without one
    are skipped). The value axis always shows 0: the metric can go below it."""
    values = [value for line in lines.values() for value in line.values()]
    low, high = min([0.0, *values]), max([0.0, *values])
    if high == low:
        high = low + 1.0

    def x(index: int) -> float:
        return LEFT + (RIGHT - LEFT) * index / max(len(days) - 1, 1)

    def y(value: float) -> float:
        return BOTTOM - (BOTTOM - TOP) * (value - low) / (high - low)

    step = math.ceil(len(days) / X_LABELS_MAX) or 1
    levels = [low + (high - low) * i / Y_TICKS for i in range(Y_TICKS + 1)]
    return LineChart(
        lines=[
            Line(name, [Point(x(i), y(line[day]), day, line[day]) for i, day in enumerate(days) if day in line])
            for name, line in lines.items()
        ],
        x_ticks=[Tick(x(i), f"{day:%b} {day.day}") for i, day in enumerate(days) if i % step == 0],
        y_ticks=[Tick(y(level), f"{level:.3g}") for level in levels],
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
