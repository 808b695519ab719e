"""How the example builder's engine was chosen: the same slice of the job on
DuckDB and on Polars, on the same Parquet export of a log, each in a fresh
process (its peak resident memory is its own).

The slice is the builder's core pattern: per-key counts over a window before
each impression, exclusive of its own millisecond (a tweet's engagements
over the month, the viewer-author pair's), and the labels within the
attribution window after it. DuckDB runs the builder's own SQL for them;
Polars the idiomatic equivalent (cumulative counts per key, then
`join_asof` backward with exact matches excluded, at t and at the window's
start).
"""

import json
import subprocess  # nosec B404: runs this same Python on our own code
import sys
import time
from pathlib import Path

import numpy as np

DUCKDB_JOB = """
import json, sys, duckdb
log, threads, steps = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
for name in ("events", "follows", "tweets", "words"):
    con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{log}/{name}.parquet')")
for name in ("imp", "tweet_counts", "pair_counts", "labels"):
    con.execute(f"CREATE TABLE {name} AS {steps[name]}")
n = con.execute(
    "SELECT COUNT(*) FROM imp JOIN tweet_counts USING (iid) JOIN pair_counts USING (iid) LEFT JOIN labels USING (iid)"
).fetchone()[0]
print(n)
print([line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")][0])
"""

POLARS_JOB = """
import sys, os
os.environ["POLARS_MAX_THREADS"] = sys.argv[2]
import polars as pl
log = sys.argv[1]
DAY = 86_400_000
events = pl.scan_parquet(f"{log}/events.parquet")
imp = (
    events.filter(pl.col("shown"))
    .select(
        pl.col("id").alias("iid"), pl.col("user_id").alias("viewer"), "tweet", "author", pl.col("ms").alias("t"),
        ((pl.col("ms") - 30 * DAY) // DAY * DAY).alias("s30"),
    )
    .collect()
)
kinds = {"impression": ["impression"], "like": ["like"], "reply": ["reply"], "retweet": ["retweet"],
         "negative": ["hide", "report"], "dwell": ["dwell"]}
def running(keys):
    counted = events.select(*keys, "ms", *[pl.col("kind").is_in(v).cast(pl.Float64).alias(k) for k, v in kinds.items()])
    return (
        counted.sort("ms")
        .with_columns([pl.col(k).cum_sum().over(keys) for k in kinds])
        .collect()
    )
def as_of(table, keys, query_keys, read):
    left = imp.select("iid", *[pl.col(q).alias(k) for q, k in zip(query_keys, keys)], pl.col(read).alias("ms"))
    left = left.sort("ms")
    got = left.join_asof(table, on="ms", by=keys, strategy="backward", allow_exact_matches=False)
    return got.select("iid", *[pl.col(k).fill_null(0).alias(f"{k}_{read}") for k in kinds])
tweet = running(["tweet"])
t_counts = as_of(tweet, ["tweet"], ["tweet"], "t").join(as_of(tweet, ["tweet"], ["tweet"], "s30"), on="iid")
del tweet
pair = running(["user_id", "author"])
p_counts = as_of(pair, ["user_id", "author"], ["viewer", "author"], "t").join(
    as_of(pair, ["user_id", "author"], ["viewer", "author"], "s30"), on="iid")
del pair
acts = events.filter(pl.col("kind") != "impression").select(
    pl.col("user_id").alias("viewer"), "tweet", pl.col("ms").alias("at"), "kind").collect()
labels = (
    imp.select("iid", "viewer", "tweet", "t").join(acts, on=["viewer", "tweet"])
    .filter((pl.col("at") >= pl.col("t")) & (pl.col("at") < pl.col("t") + 3_600_000))
    .group_by("iid").agg([(pl.col("kind") == k).any().alias(k) for k in ("like", "reply", "retweet", "hide", "report")])
)
out = imp.join(t_counts, on="iid").join(p_counts, on="iid").join(labels, on="iid", how="left")
print(out.height)
print([line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")][0])
"""


def engine_comparison(log: Path, *, threads: int = 2, runs: int = 3) -> dict:
    """Median time and peak memory of the slice on each engine over `runs`
    runs, alternated, on the export in `log`. Neither child imports Django:
    DuckDB's is handed the builder's SQL."""
    from ranking.training.builder import build_steps

    steps = json.dumps(dict(build_steps()))
    results = {"duckdb": [], "polars": []}
    for _ in range(runs):
        results["duckdb"].append(_timed_child(DUCKDB_JOB, log, threads, steps))
        results["polars"].append(_timed_child(POLARS_JOB, log, threads))
    return {engine: _median(rows) for engine, rows in results.items()}


def _median(rows: list[dict]) -> dict:
    return {key: float(np.median([row[key] for row in rows])) for key in rows[0]}


def _timed_child(job: str, log: Path, threads: int, *args: str) -> dict:
    """Run `job` in a child process; its wall time and its own peak RSS."""
    began = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603  # nosec B603: this Python, our own code
        [sys.executable, "-c", job, str(log), str(threads), *args],
        stdout=subprocess.PIPE,
    )
    out = process.stdout.read()
    if process.wait():
        raise RuntimeError(f"the engine job failed (status {process.returncode})")
    rows, peak_kb = out.split()[-2:]
    # The child's own peak (VmHWM, in kB), which exec resets: wait4's ru_maxrss
    # would count this process's size at the fork.
    return {
        "rows": int(rows),
        "seconds": round(time.perf_counter() - began, 2),
        "peak_rss_mb": round(int(peak_kb) / 1024, 1),
    }
