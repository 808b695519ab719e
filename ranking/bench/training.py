"""`make bench-training`: the example builder at 1 M and 10 M events of the
synthetic log (ranking.bench.synth_log), and on a follow graph of 200,000
users with 100 followees each.

Each build runs in a child process (`manage.py build_examples`), so its peak
resident memory (its VmHWM, which it reports) is the build's own. DuckDB runs inside
that process: the peak includes the engine's memory. Training is then
timed here on the shards it wrote (streamed, one epoch by default).
"""

import json
import os
import subprocess  # nosec B404: runs this project's own manage.py
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connection

from ranking.bench.synth_log import synth_log
from users.models import User

USERS_PER_EVENT = 1 / 50  # 1 M events: 20,000 users


def log_reset() -> None:
    """Empty the benchmark database's tables (the users' and all that refers to them)."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {User._meta.db_table} CASCADE")  # nosec B608: a model's table


def build_in_child(directory: Path, *, memory: str | None = None, threads: int | None = None) -> dict:
    """`manage.py build_examples` in a child process: its report, wall time and peak RSS."""
    command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "build_examples", "--json"]
    command += ["--directory", str(directory)]
    if memory:
        command += ["--memory", memory]
    if threads:
        command += ["--threads", str(threads)]
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE)  # noqa: S603  # nosec B603: our manage.py
    out = process.stdout.read()
    status = process.wait()
    if status:
        raise RuntimeError(f"build_examples failed (status {status})")
    # The child's own peak (VmHWM): wait4's ru_maxrss would include this process's size when it forked.
    report = json.loads(out.decode().strip().splitlines()[-1])
    return report | {"wall_s": round(time.perf_counter() - began, 2)}


def train_seconds(shards: Path, *, epochs: int, seed: int = 0) -> float:
    """Seconds to fit a fresh model on every example of the shards, streamed."""
    from ranking.training.builder import read_examples, read_index, shard_files
    from ranking.training.fit import ranker_fit_shards
    from ranking.training.network import positive_rates
    from ranking.training.train import MODEL_SAMPLE

    index = read_index(shards)
    sample = np.random.default_rng(seed).choice(index.iid, min(len(index.iid), MODEL_SAMPLE), replace=False)
    began = time.perf_counter()
    ranker_fit_shards(
        files=shard_files(shards),
        fit_iids=index.iid,
        sample=read_examples(shards, iids=sample),
        rates=positive_rates(index.examples),
        stopper=None,
        epochs=epochs,
        seed=seed,
    )
    return round(time.perf_counter() - began, 2)


def size_run(events: int, *, seed: int, train_epochs: int, memory: str | None, log=print) -> dict:
    log_reset()
    synth = synth_log(events=events, users=max(int(events * USERS_PER_EVENT), 1000), seed=seed)
    log(f"  synthetic log: {synth.events:,} events in {synth.seconds:.0f} s")
    with tempfile.TemporaryDirectory(prefix="bench-training-") as work:
        build = build_in_child(Path(work), memory=memory)
        seconds = build["export_s"] + build["build_s"]
        log(
            f"  built {build['examples']:,} examples: {seconds:.0f} s, peak RSS {build['peak_rss_mb']} MB "
            f"(DuckDB's own {build['engine_peak_mb']} MB)"
        )
        train_s = train_seconds(Path(work) / "shards", epochs=train_epochs) if train_epochs else None
    total_s = build["export_s"] + build["build_s"]
    return {
        "events": synth.events,
        "examples": build["examples"],
        "build_s": round(total_s, 2),
        "export_s": build["export_s"],
        "engine_s": build["build_s"],
        "peak_rss_mb": build["peak_rss_mb"],
        "engine_peak_mb": build["engine_peak_mb"],
        "examples_per_s": round(build["examples"] / total_s) if total_s else None,
        "train_s": train_s,
        "train_epochs": train_epochs,
    }


def follow_graph_run(*, users: int, followees: int, events: int, seed: int, memory: str | None, log=print) -> dict:
    log_reset()
    synth = synth_log(events=events, users=users, followees=followees, seed=seed)
    log(f"  follow graph: {synth.follow_edges:,} edges, {synth.follow_events:,} log rows in {synth.seconds:.0f} s")
    with tempfile.TemporaryDirectory(prefix="bench-training-") as work:
        build = build_in_child(Path(work), memory=memory)
    return {
        "users": users,
        "followees": followees,
        "follow_edges": synth.follow_edges,
        "follow_events": synth.follow_events,
        "events": synth.events,
        "examples": build["examples"],
        "build_s": round(build["export_s"] + build["build_s"], 2),
        "peak_rss_mb": build["peak_rss_mb"],
        "engine_peak_mb": build["engine_peak_mb"],
    }


def engines_run(events: int, *, seed: int, runs: int = 3, log=print) -> dict:
    """The engine comparison (ranking.bench.engines) on the export of a
    synthetic log of `events`."""
    from ranking.bench.engines import engine_comparison
    from ranking.training.builder import example_window, export_log

    log_reset()
    synth_log(events=events, users=max(int(events * USERS_PER_EVENT), 1000), seed=seed)
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as work:
        export_log(example_window(), Path(work))
        log(f"  comparing DuckDB and Polars on {events:,} events, median of {runs} runs each")
        return {"events": events, "threads": len(os.sched_getaffinity(0))} | engine_comparison(
            Path(work), threads=len(os.sched_getaffinity(0)), runs=runs
        )


def training_benchmark(
    *,
    sizes: list[int],
    follow_users: int,
    followees: int = 100,
    seed: int = 0,
    train_epochs: int = 1,
    memory: str | None = None,
    log=print,
) -> dict:
    runs = []
    for events in sizes:
        log(f"{events:,} events:")
        runs.append(size_run(events, seed=seed, train_epochs=train_epochs, memory=memory, log=log))
    graph = None
    if follow_users:
        log(f"follow graph of {follow_users:,} users x {followees} followees:")
        graph = follow_graph_run(
            users=follow_users, followees=followees, events=200_000, seed=seed, memory=memory, log=log
        )
    growth = None
    if len(runs) >= 2 and runs[0]["peak_rss_mb"]:
        growth = round(runs[-1]["peak_rss_mb"] / runs[0]["peak_rss_mb"], 2)
    return {
        "runs": runs,
        "follow_edges_built": graph["follow_edges"] if graph else None,
        "follow_graph": graph,
        "peak_rss_growth": growth,
        "engine": "duckdb, in-process: peak_rss_mb is the build process with the engine inside it; "
        "engine_peak_mb is DuckDB's own, sampled",
        "cores": len(os.sched_getaffinity(0)),
    }
