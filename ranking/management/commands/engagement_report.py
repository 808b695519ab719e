import json

from django.core.management.base import BaseCommand, CommandError

from ranking.management.days import parse_day
from ranking.metrics import GROUPINGS, engagement_report

COLUMNS = ["active_users", "weighted_engagement_per_user", "negative_actions_per_user", "dwell_s_per_user"]
COUNTED = ["impression", "like", "reply", "retweet", "hide", "report", "dwell"]


class Command(BaseCommand):
    help = "Weighted engagement per active user, per day and over the period, from the engagement log."

    def add_arguments(self, parser):
        parser.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", required=True, help="last day (inclusive), YYYY-MM-DD")
        parser.add_argument("--by", choices=GROUPINGS, help="also group by experiment variant or model version")
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")

    def handle(self, *, start, end, by, json: bool, **options):
        start, end = parse_day(start), parse_day(end)
        if end < start:
            raise CommandError("--end is before --start")
        report = engagement_report(start=start, end=end, by=by)
        if json:
            self.stdout.write(to_json(report.as_dict()))
            return
        keys = ["day", by] if by else ["day"]
        self.stdout.write(table(keys, report.days))
        if by:
            self.stdout.write("\n" + table([by], report.groups))
        self.stdout.write("\n" + table(["period"], [{"period": f"{start}..{end}", **report.total.as_dict()}]))


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2)


def table(keys: list[str], rows: list[dict]) -> str:
    header = [*keys, *COLUMNS, *COUNTED]
    lines = [header]
    for row in rows:
        values = [str(row[key] or "-") for key in keys]
        values += [f"{row[column]:.3f}" if isinstance(row[column], float) else str(row[column]) for column in COLUMNS]
        values += [str(row["counts"][kind]) for kind in COUNTED]
        lines.append(values)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in lines)
