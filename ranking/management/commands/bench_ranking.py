import json

from django.core.management.base import BaseCommand

from ranking.bench.feed_build import feed_build_benchmark, resident_memory_mb
from ranking.bench.model import model_benchmark


class Command(BaseCommand):
    help = "Benchmark the ranking: feed build, scoring throughput, training time, resident memory."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=50, help="feed builds to time (default 50)")
        parser.add_argument("--train-examples", type=int, default=200_000)

    def handle(self, *, runs, train_examples, **options):
        build = feed_build_benchmark(runs=runs)
        self.stdout.write(
            f"feed build, 100 followees, {build['candidates']} candidates, PostgreSQL ({runs} builds): "
            f"p50 {build['total_p50_ms']:.1f} ms, p99 {build['total_p99_ms']:.1f} ms; "
            f"scoring p50 {build['stages_p50_ms']['scoring']:.2f} ms ({build['scoring_share_p50']:.0%} of the build)"
        )
        stages = ", ".join(f"{stage} {ms:.1f} ms" for stage, ms in build["stages_p50_ms"].items())
        self.stdout.write(f"  stages (p50): {stages}")
        model = model_benchmark(examples=train_examples)
        self.stdout.write(
            f"scoring: batch 1 {model.predict_ms[1]:.2f} ms, batch 1,000 {model.predict_ms[1000]:.2f} ms "
            f"-> {model.candidates_per_s:,.0f} candidates/s per process"
        )
        self.stdout.write(f"training on {model.examples:,} examples ({model.epochs} epochs): {model.train_s:.1f} s")
        memory = resident_memory_mb()
        self.stdout.write(
            f"resident memory: web process {memory['web_mb']:.0f} MB, feeds worker {memory['feeds_worker_mb']:.0f} MB"
        )
        self.stdout.write(json.dumps({"feed_build": build, "model": model.as_dict(), "memory": memory}, default=str))
