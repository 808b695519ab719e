from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from ranking.management.days import day_start, parse_day
from ranking.spec import HEADS

COLUMNS = ("roc_auc", "pr_auc", "rce", "mean_predicted", "observed_rate", "positives")


class Command(BaseCommand):
    help = (
        "Train the ranking model on the engagement log, validate it on the latest impressions, register it, "
        "and activate it when it beats the active version (or with --activate)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="first day of impressions to use, YYYY-MM-DD")
        parser.add_argument("--until", help="last day (inclusive), YYYY-MM-DD; never later than an hour ago")
        choice = parser.add_mutually_exclusive_group()
        choice.add_argument("--activate", action="store_true", help="activate the new version whatever its metrics")
        choice.add_argument(
            "--candidate",
            action="store_true",
            help="keep the new version a candidate whatever its metrics (a challenger for an experiment)",
        )
        parser.add_argument("--epochs", type=int, help="passes over the training impressions")

    def handle(self, *, since, until, activate, candidate, epochs, **options):
        from ranking.training.train import DEFAULT_EPOCHS, TrainingError, train_ranker

        since, until = parse_day(since), parse_day(until)
        if since and until and until < since:
            raise CommandError("--until is before --since")
        try:
            result = train_ranker(
                since=day_start(since) if since else None,
                until=day_start(until + timedelta(days=1)) if until else None,
                activate=activate,
                candidate=candidate,
                epochs=epochs or DEFAULT_EPOCHS,
            )
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        version = result.version
        self.stdout.write(
            f"{version.name}: trained on {version.n_train} impressions, validated on {version.n_validation} "
            f"({version.window_start:%Y-%m-%d %H:%M} .. {version.window_end:%Y-%m-%d %H:%M})\n"
        )
        self.stdout.write(metrics_table(result.metrics, result.baseline, baseline_name=_baseline_name(version)))
        state = "activated" if result.activated else "registered as a candidate"
        self.stdout.write(f"\n{version.name} {state}: {result.reason}")


def _baseline_name(version) -> str:
    baseline = version.metrics.get("baseline")
    return baseline["version"] if baseline else ""


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def metrics_table(metrics: dict, baseline: dict | None, *, baseline_name: str = "") -> str:
    """Per head: the new model's metrics, and the active one's AUC and RCE on
    the same validation slice; then NDCG@10 of both."""
    header = ["head", *COLUMNS]
    if baseline:
        header += [f"{baseline_name} roc_auc", f"{baseline_name} rce"]
    lines = [header]
    for head in HEADS:
        row = metrics["heads"][head]
        line = [head, *(_cell(row[column]) for column in COLUMNS)]
        if baseline:
            line += [_cell(baseline["heads"][head]["roc_auc"]), _cell(baseline["heads"][head]["rce"])]
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    table = "\n".join("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in lines)
    ndcg = f"NDCG@10: {_cell(metrics['ndcg_at_10'])} over {metrics['ndcg_requests']} feed requests"
    if baseline:
        ndcg += f"; {baseline_name}: {_cell(baseline['ndcg_at_10'])}"
    if metrics.get("chronological_ndcg_at_10") is not None:
        ndcg += f"; chronological order: {_cell(metrics['chronological_ndcg_at_10'])}"
    return f"{table}\n{ndcg}"
