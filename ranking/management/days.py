"""Days on the commands' lines, in the current time zone."""

from datetime import date, datetime, time

from django.core.management.base import CommandError
from django.utils import timezone


def parse_day(value: str | None) -> date | None:
    """A YYYY-MM-DD day, or None when not given. Called in `handle`, not as
    an argparse type: a CommandError raised while argparse reads the command
    line escapes manage.py as a traceback instead of one line and status 1."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from exc


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
