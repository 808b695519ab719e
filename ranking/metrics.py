"""The business metric: weighted engagement per active user.

For a period and a population: each action's count times its weight, summed,
divided by the users active in that period (shown at least one tweet, i.e.
with an impression). Beside it: negative actions (hide + report) and seconds
of viewing per active user. Everything is aggregated in the database, in two
queries whatever the size of the log.
"""

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from feed.models import Engagement

Kind = Engagement.Kind
ACTION_KINDS = (Kind.LIKE, Kind.REPLY, Kind.RETWEET, Kind.HIDE, Kind.REPORT)
NEGATIVE_KINDS = (Kind.HIDE, Kind.REPORT)
GROUPINGS = ("variant", "model_version")


@dataclass(frozen=True)
class Engagements:
    """The metric for one slice of the log (a day, a group, a whole period)."""

    active_users: int
    counts: dict[str, int]
    dwell_ms: int
    weighted_engagement: float
    weighted_engagement_per_user: float
    negative_actions_per_user: float
    dwell_s_per_user: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EngagementReport:
    start: date
    end: date
    by: str | None
    days: list[dict] = field(default_factory=list)
    groups: list[dict] = field(default_factory=list)
    total: Engagements | None = None

    def as_dict(self) -> dict:
        data = {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "weights": settings.ENGAGEMENT_WEIGHTS,
            "dwell_long_ms": settings.DWELL_LONG_MS,
            "days": self.days,
            "total": self.total.as_dict(),
        }
        if self.by:
            data["by"] = self.by
            data["groups"] = self.groups
        return data


def _aggregates(dwell_long_ms: int) -> dict:
    count = {kind.value: Count("pk", filter=Q(kind=kind)) for kind in (Kind.IMPRESSION, Kind.CLICK, *ACTION_KINDS)}
    return {
        **count,
        "dwell": Count("pk", filter=Q(kind=Kind.DWELL, dwell_ms__gte=dwell_long_ms)),
        "dwell_ms": Sum("dwell_ms", filter=Q(kind=Kind.DWELL), default=0),
        "active_users": Count("user", filter=Q(kind=Kind.IMPRESSION), distinct=True),
    }


def engagements_from_row(row: dict, weights: dict[str, float]) -> Engagements:
    """The metric from one aggregated row (see `_aggregates`)."""
    counts = {kind: row[kind] for kind in (Kind.IMPRESSION, Kind.CLICK, *ACTION_KINDS, "dwell")}
    weighted = sum(weight * counts[kind] for kind, weight in weights.items())
    users = row["active_users"]
    negative = sum(counts[kind] for kind in NEGATIVE_KINDS)
    return Engagements(
        active_users=users,
        counts={str(kind): n for kind, n in counts.items()},
        dwell_ms=row["dwell_ms"],
        weighted_engagement=weighted,
        weighted_engagement_per_user=weighted / users if users else 0.0,
        negative_actions_per_user=negative / users if users else 0.0,
        dwell_s_per_user=row["dwell_ms"] / 1000 / users if users else 0.0,
    )


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in the current time zone: `end` is inclusive."""
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def engagement_report(
    *, start: date, end: date, by: str | None = None, weights: dict[str, float] | None = None
) -> EngagementReport:
    """The metric per day (and per `by` group) and over the whole period.
    `weights` default to settings.ENGAGEMENT_WEIGHTS; long dwell is
    settings.DWELL_LONG_MS. Active users over the period are counted once,
    not once a day."""
    if by is not None and by not in GROUPINGS:
        raise ValueError(f"by must be one of {GROUPINGS}")
    weights = weights or settings.ENGAGEMENT_WEIGHTS
    aggregates = _aggregates(settings.DWELL_LONG_MS)
    since, until = period_bounds(start, end)
    log = Engagement.objects.filter(created_at__gte=since, created_at__lt=until)
    keys = ["day", by] if by else ["day"]

    per_day = log.annotate(day=TruncDate("created_at")).values(*keys).annotate(**aggregates).order_by(*keys)
    days = [{**{key: row[key] for key in keys}, **engagements_from_row(row, weights).as_dict()} for row in per_day]
    for row in days:
        row["day"] = row["day"].isoformat()

    if by:
        per_group = log.values(by).annotate(**aggregates).order_by(by)
        groups = [{by: row[by], **engagements_from_row(row, weights).as_dict()} for row in per_group]
    else:
        groups = []
    total = engagements_from_row(log.aggregate(**aggregates), weights)
    return EngagementReport(start=start, end=end, by=by, days=days, groups=groups, total=total)
