import json

from django.core.management.base import BaseCommand, CommandError

from ranking.experiments.readout import GUARDRAILS, experiment_readout
from ranking.management.days import parse_day
from ranking.models import Experiment


class Command(BaseCommand):
    help = "An experiment's readout: per variant metric and guardrails with their intervals, lifts, the SRM check."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the experiment's name")
        parser.add_argument("--start", help="first day, YYYY-MM-DD (default: the experiment's start)")
        parser.add_argument("--end", help="last day, inclusive (default: its stop, or today)")
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")

    def handle(self, *, name: str, start: str | None, end: str | None, json: bool, **options):
        start, end = parse_day(start), parse_day(end)
        if start and end and end < start:
            raise CommandError("--end is before --start")
        experiment = Experiment.objects.filter(name=name).prefetch_related("variants").first()
        if experiment is None:
            raise CommandError(f"No experiment named {name}.")
        readout = experiment_readout(experiment=experiment, start=start, end=end).as_dict()
        if json:
            self.stdout.write(to_json(readout))
            return
        self.stdout.write(text(readout))


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2, allow_nan=False)


def number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def interval(low: float | None, high: float | None, digits: int = 3) -> str:
    return "-" if low is None or high is None else f"[{low:.{digits}f}, {high:.{digits}f}]"


def percent_interval(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"[{low:+.1%}, {high:+.1%}]"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in lines)


def text(readout: dict) -> str:
    window = readout["window"]
    out = [
        f"Experiment {readout['experiment']} ({readout['design']}, {readout['status']}), "
        f"days {readout['start'] or '-'}..{readout['end'] or '-'} "
        f"(window {window['since'] or '-'} .. {window['until'] or '-'})",
        "",
    ]
    srm = readout["srm"]
    if srm["mismatch"]:
        out.append(
            f"!!! SAMPLE RATIO MISMATCH (p = {srm['p_value']:.2g} < 0.001): the split of exposed users does not "
            "match the weights. The assignment or the logging is broken; do not trust any figure below. !!!"
        )
    elif readout["interleaving"]:
        out.append("SRM check: none (interleaving: everyone is in the one variant, both rankers in each list)")
    else:
        out.append(f"SRM check: p = {number(srm['p_value'], 4)}, no mismatch")
    out.append("")

    header = ["variant", "ranker", "weight", "assigned", "exposed", "active", "metric", "95% CI", "headline"]
    header += GUARDRAILS
    rows = []
    for v in readout["variants"]:
        rows.append(
            [
                v["name"],
                v["ranker"],
                str(v["weight"]),
                str(v["assigned"]),
                str(v["exposed"]),
                str(v["active"]),
                number(v["metric"]["mean"]),
                interval(v["metric"]["ci_low"], v["metric"]["ci_high"]),
                number(v["headline"]),
                *(number(v["guardrails"][g]["mean"]) for g in GUARDRAILS),
            ]
        )
    out += [table(header, rows), "", readout["metric_note"]]

    if readout["comparisons"]:
        header = ["variant", "baseline", "lift", "95% CI", "p", "cuped", *(f"{g} lift" for g in GUARDRAILS)]
        rows = []
        for c in readout["comparisons"]:
            rows.append(
                [
                    c["variant"],
                    c["baseline"],
                    "-" if c["lift"] is None else f"{c['lift']:+.1%}",
                    percent_interval(c["lift_ci_low"], c["lift_ci_high"]),
                    number(c["p_value"], 4),
                    "yes" if c["cuped"] else "no",
                    *(
                        "-" if c["guardrails"][g]["lift"] is None else f"{c['guardrails'][g]['lift']:+.1%}"
                        for g in GUARDRAILS
                    ),
                ]
            )
        out += ["", table(header, rows)]

    if readout["interleaving"]:
        i = readout["interleaving"]
        first, second = i["teams"]
        out += [
            "",
            f"Interleaving: {second} won {number(i['preference'])} of the credited weighted engagement "
            f"(95% CI {interval(i['ci_low'], i['ci_high'])}, p = {number(i['p_value'], 4)} against 0.5; "
            f"{i['users']} users; {first} won the rest; credit {first} {number(i['credit'][0])}, "
            f"{second} {number(i['credit'][1])})",
        ]
        if sum(i["credit"]) <= 0:
            out.append(
                "Warning: the credited weighted engagement adds up to zero or less (negative actions outweigh the "
                "rest), so a share of it is no preference: compare the credits instead."
            )
    return "\n".join(out) + "\n"
