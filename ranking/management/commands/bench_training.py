import json
import sys

from django.core.management.base import BaseCommand

from ranking.bench.training import engines_run, training_benchmark


def _engines_table(comparison: dict) -> str:
    lines = [
        "the builder's core (as-of counts per tweet and per viewer-author pair, labels), "
        f"{comparison['events']:,} events:"
    ]
    for engine in ("duckdb", "polars"):
        run = comparison[engine]
        lines.append(
            f"  {engine:7} {run['seconds']:6.1f} s, peak RSS {run['peak_rss_mb']:,.0f} MB ({run['rows']:,.0f} rows)"
        )
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Benchmark the example builder: 1 M and 10 M synthetic events (build time, peak RSS, examples/s, training "
        "time) and a follow graph of 200,000 users x 100 followees. Empties the database it runs on."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 10_000_000], help="events per run")
        parser.add_argument("--follow-users", type=int, default=200_000, help="0: no follow-graph run")
        parser.add_argument("--followees", type=int, default=100)
        parser.add_argument("--train-epochs", type=int, default=1, help="0: no training")
        parser.add_argument("--memory", default=None, help="DuckDB's memory limit (default 2GB)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON object and nothing else")
        parser.add_argument(
            "--compare-engines",
            action="store_true",
            help="instead: the builder's core on DuckDB and on Polars, on the first size's log (how DuckDB was chosen)",
        )

    def handle(
        self, *, sizes, follow_users, followees, train_epochs, memory, seed, as_json, compare_engines, **options
    ):
        if compare_engines:
            comparison = engines_run(sizes[0], seed=seed, log=lambda line: print(line, file=sys.stderr, flush=True))
            self.stdout.write(json.dumps(comparison) if as_json else _engines_table(comparison))
            return
        # Progress goes to stderr, so --json prints only the object.
        result = training_benchmark(
            sizes=sizes,
            follow_users=follow_users,
            followees=followees,
            train_epochs=train_epochs,
            memory=memory,
            seed=seed,
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
        if as_json:
            self.stdout.write(json.dumps(result))
            return
        for run in result["runs"]:
            train = f"{run['train_s']:.0f} s" if run["train_s"] is not None else "-"
            self.stdout.write(
                f"{run['events']:>12,} events: {run['examples']:,} examples built in {run['build_s']:.0f} s "
                f"(export {run['export_s']:.0f} s), {run['examples_per_s']:,} examples/s, peak RSS "
                f"{run['peak_rss_mb']:,} MB (DuckDB in-process; its own {run['engine_peak_mb']:,} MB), "
                f"training {train} ({run['train_epochs']} epoch)"
            )
        if result["peak_rss_growth"]:
            self.stdout.write(f"peak RSS growth, smallest to largest: {result['peak_rss_growth']}x")
        if result["follow_graph"]:
            graph = result["follow_graph"]
            self.stdout.write(
                f"follow graph: {graph['follow_edges']:,} edges ({graph['users']:,} users x {graph['followees']}): "
                f"{graph['examples']:,} examples built in {graph['build_s']:.0f} s, "
                f"peak RSS {graph['peak_rss_mb']:,} MB (DuckDB's own {graph['engine_peak_mb']:,} MB)"
            )
