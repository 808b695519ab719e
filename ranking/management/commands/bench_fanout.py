import json

from django.core.management.base import BaseCommand

from ranking.bench.fanout import fanout_benchmark
from ranking.bench.store import page_read_benchmark


class Command(BaseCommand):
    help = "Benchmark fan-out: an author with 100,000 followers, about half recently active."

    def add_arguments(self, parser):
        parser.add_argument("--followers", type=int, default=100_000)
        parser.add_argument("--active-share", type=float, default=0.5)
        parser.add_argument(
            "--log-requests", type=int, default=10, help="feed requests per follower in the log, for the old way"
        )
        parser.add_argument("--runs", type=int, default=3, help="fan-outs to time; the median is printed")

    def handle(self, *, followers, active_share, log_requests, runs, **options):
        results = [
            fanout_benchmark(followers=followers, active_share=active_share, log_requests=log_requests)
            for _ in range(runs)
        ]
        median = {
            key: sorted(r[key] for r in results)[len(results) // 2]
            for key in ("find_ms", "mark_stale_ms", "total_ms", "log_scan_ms")
        }
        first = results[0]
        self.stdout.write(
            f"fan-out, {first['followers']:,} followers, {first['active']:,} active "
            f"(read their feed within FANOUT_ACTIVE_WINDOW_S), median of {runs}:"
        )
        self.stdout.write(
            f"  find active followers: {median['find_ms']:,.0f} ms "
            f"({first['chunks']} chunks of {first['chunk']:,}, one query each -> {first['tasks']} tasks)"
        )
        tasks = first["tasks"]
        self.stdout.write(f"  mark stale: {median['mark_stale_ms']:,.0f} ms (the {tasks} tasks' work, in turn)")
        self.stdout.write(f"  total: {median['total_ms']:,.0f} ms")
        self.stdout.write(
            f"  before (scan of the feed-request log, {log_requests} requests per follower): "
            f"{median['log_scan_ms']:,.0f} ms"
            f" to find them{'' if first['log_scan_same_followers'] else ' (a different set!)'}"
        )
        store = page_read_benchmark()
        size = f" ({store['list_bytes'] / 1024:,.0f} KB in Redis)" if "list_bytes" in store else ""
        self.stdout.write(f"stored list, {store['items']} items with their feature rows{size}, p50 / p99:")
        for key, what in (
            ("first_page", f"a first page of {store['page']} (current version, then its slice)"),
            ("scroll_page", f"a scroll's page of {store['page']} (its version's slice)"),
            ("whole_list", "the whole list"),
        ):
            self.stdout.write(f"  {what}: {store[key]['p50_ms']:.2f} / {store[key]['p99_ms']:.2f} ms")
        self.stdout.write(json.dumps({"fanout": {**first, **median}, "runs": runs, "stored_list": store}))
