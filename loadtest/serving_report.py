"""bin/bench-serving's report: reads wrk's figures (loadtest/wrk_tokens.lua's
JSON, one file per view and concurrency), prints req/s, p50 and p99 of the
bare view and the feed and the ratio feed/bare, and writes the summary.

    python loadtest/serving_report.py RUN_DIR OUT_JSON WORKERS SERVER_CPUS CLIENT_CPUS CLIENTS...

The headline figures: throughput and ratio at the highest concurrency, the
feed's latency at the lowest (the issue's targets: ratio >= 0.75 and p99 at
4 clients <= 20 ms)."""

import json
import sys
from pathlib import Path


def figures(path: Path) -> dict:
    run = json.loads(path.read_text())
    seconds = run["duration_us"] / 1e6
    return {
        "rps": round(run["requests"] / seconds, 1),
        "requests": run["requests"],
        "p50_ms": round(run["p50_us"] / 1000, 2),
        "p90_ms": round(run["p90_us"] / 1000, 2),
        "p99_ms": round(run["p99_us"] / 1000, 2),
        "max_ms": round(run["max_us"] / 1000, 2),
        # wrk counts answers of status 400 and above; socket errors are connect, read and write errors.
        "failures": run["non_2xx"] + run["socket_errors"] + run["timeouts"],
    }


def main(run_dir: str, out: str, workers: str, server_cpus: str, client_cpus: str, *clients: str) -> int:
    detail = {}
    print(f"{'clients':>7}  {'view':<5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'failures':>8}")
    for n in clients:
        floor, feed = (figures(Path(run_dir) / f"{name}-{n}.json") for name in ("floor", "feed"))
        ratio = round(feed["rps"] / floor["rps"], 3) if floor["rps"] else 0.0
        detail[n] = {"floor": floor, "feed": feed, "ratio": ratio}
        for name, run in (("bare", floor), ("feed", feed)):
            rps, p50, p99, failures = run["rps"], run["p50_ms"], run["p99_ms"], run["failures"]
            print(f"{n:>7}  {name:<5} {rps:>8.1f} {p50:>8.2f} {p99:>8.2f} {failures:>8}")
        print(f"{n:>7}  ratio feed/bare: {ratio:.3f}")
    high, low = detail[max(clients, key=int)], detail[min(clients, key=int)]
    summary = {
        "feed_rps": high["feed"]["rps"],
        "floor_rps": high["floor"]["rps"],
        "ratio": high["ratio"],
        "feed_p50_ms": low["feed"]["p50_ms"],
        "feed_p99_ms": low["feed"]["p99_ms"],
        "failures": sum(run[view]["failures"] for run in detail.values() for view in ("floor", "feed")),
        "throughput_at_clients": int(max(clients, key=int)),
        "latency_at_clients": int(min(clients, key=int)),
        "gunicorn_workers": int(workers),
        "server_cpus": server_cpus,
        "client_cpus": client_cpus,
        "by_clients": detail,
    }
    Path(out).write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"bench-serving: feed {summary['feed_rps']} req/s vs bare {summary['floor_rps']} req/s at "
        f"{summary['throughput_at_clients']} clients (ratio {summary['ratio']}); feed p50 {summary['feed_p50_ms']} ms, "
        f"p99 {summary['feed_p99_ms']} ms at {summary['latency_at_clients']} clients; "
        f"{summary['failures']} failures; {out}"
    )
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
