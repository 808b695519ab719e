import json

from django.core.management.base import BaseCommand, CommandError

from ranking.management.days import day_start, parse_day


class Command(BaseCommand):
    help = (
        "Training-serving skew: recompute the features of a sample of served ranked items with the training "
        "evaluator, as of the time their list was built, and report per feature the share of items that differ "
        "and the largest difference."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sample", type=int, default=1000, help="served items to compare (default 1000)")
        parser.add_argument("--since", help="only lists built on this day or later, YYYY-MM-DD")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *, sample, since, json: bool, **options):
        from ranking.training.skew import feature_skew

        since = parse_day(since)
        if sample < 1:
            raise CommandError("--sample must be at least 1")
        report = feature_skew(sample=sample, since=day_start(since) if since else None)
        if json:
            self.stdout.write(to_json(report.as_dict()))
            return
        self.stdout.write(skew_table(report))


def to_json(value) -> str:
    return json.dumps(value, indent=2)


def skew_table(report) -> str:
    head = (
        f"{report.items} served items of feature spec {report.feature_spec_version} ({report.fingerprint}) "
        "against the training evaluator as of their build time"
    )
    if not report.items:
        return f"{head}: none served yet under this spec, nothing to compare."
    lines = [("feature", "differ", "share", "max |diff|")]
    lines += [(f.feature, str(f.differing), f"{f.share:.4f}", f"{f.max_abs_diff:.6g}") for f in report.features]
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    table = "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )
    differing = report.differing_features
    verdict = (
        f"{len(differing)} feature(s) differ, on {report.items_differing} item(s): {', '.join(differing)}"
        if differing
        else "No feature differs."
    )
    return f"{head}\n{table}\n{verdict}"
