import json

from django.core.management.base import BaseCommand

from ranking.bench.feed_build import (
    HISTORY_SCALE,
    feed_build_benchmark,
    feed_build_explain,
    feed_build_profile,
    resident_memory_mb,
)
from ranking.bench.model import model_benchmark


class Command(BaseCommand):
    help = "Benchmark the ranking: feed build (and with 10x the history), scoring throughput, training, memory."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=50, help="feed builds to time per world (default 50)")
        parser.add_argument("--train-examples", type=int, default=200_000)
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help="print one JSON object (build_p50_ms, build_p99_ms, build_p50_ms_10x_history, ...) and nothing else",
        )
        parser.add_argument(
            "--profile",
            action="store_true",
            help="instead: cProfile of --runs builds of the normal world, the top functions by own and cumulative time",
        )
        parser.add_argument(
            "--explain",
            action="store_true",
            help="instead: each statement of a build, on both worlds, under EXPLAIN (ANALYZE, BUFFERS)",
        )

    def handle(self, *, runs, train_examples, as_json, profile, explain, **options):
        if profile:
            self.stdout.write(feed_build_profile(runs=runs))
            return
        if explain:
            self.stdout.write(feed_build_explain())
            return
        build = feed_build_benchmark(runs=runs)
        model = model_benchmark(examples=train_examples)
        memory = resident_memory_mb()
        if as_json:
            self.stdout.write(
                dumps(
                    summary(build, model.candidates_per_s)
                    | {"feed_build": build, "model": model.as_dict(), "memory": memory}
                )
            )
            return
        self.stdout.write(
            f"feed build, 100 followees, {build['candidates']} candidates, PostgreSQL ({runs} builds): "
            f"p50 {build['total_p50_ms']:.1f} ms, p99 {build['total_p99_ms']:.1f} ms; "
            f"scoring p50 {build['stages_p50_ms']['scoring']:.2f} ms ({build['scoring_share_p50']:.0%} of the build)"
        )
        self.stdout.write(
            f"  with {HISTORY_SCALE}x the history (events, followers, old tweets), alternated with it: "
            f"p50 {build['total_p50_ms_10x_history']:.1f} ms, p99 {build['total_p99_ms_10x_history']:.1f} ms "
            f"(p50 ratio {build['history_ratio_p50']:.2f})"
        )
        stages = ", ".join(f"{stage} {ms:.1f} ms" for stage, ms in build["stages_p50_ms"].items())
        self.stdout.write(f"  stages (p50): {stages}")
        cpu = build["cpu_ms_per_build"]
        self.stdout.write(
            f"  CPU per build (mean): feeds worker {cpu['worker']:.1f} ms, PostgreSQL {cpu['postgres']:.1f} ms"
        )
        model_line = (
            f"scoring: batch 1 {model.predict_ms[1]:.2f} ms, batch 1,000 {model.predict_ms[1000]:.2f} ms "
            f"-> {model.candidates_per_s:,.0f} candidates/s per process"
        )
        self.stdout.write(model_line)
        self.stdout.write(f"training on {model.examples:,} examples ({model.epochs} epochs): {model.train_s:.1f} s")
        self.stdout.write(
            f"resident memory: web process {memory['web_mb']:.0f} MB, feeds worker {memory['feeds_worker_mb']:.0f} MB"
        )
        self.stdout.write(dumps({"feed_build": build, "model": model.as_dict(), "memory": memory}))


def summary(build: dict, candidates_per_s: float) -> dict:
    """The headline figures, under the names the capacity plan reads."""
    return {
        "build_p50_ms": build["total_p50_ms"],
        "build_p99_ms": build["total_p99_ms"],
        "build_p50_ms_10x_history": build["total_p50_ms_10x_history"],
        "build_p99_ms_10x_history": build["total_p99_ms_10x_history"],
        "build_p50_ratio_10x_history": build["history_ratio_p50"],
        "scoring_candidates_per_s": candidates_per_s,
        "build_cpu_ms_worker": build["cpu_ms_per_build"]["worker"],
        "build_cpu_ms_postgres": build["cpu_ms_per_build"]["postgres"],
    }


def dumps(figures: dict) -> str:
    return json.dumps(figures, default=str)
