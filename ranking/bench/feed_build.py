"""The feed build and memory benchmarks (`make bench-ranking`). They print
numbers; nothing here asserts a target (machines are noisy)."""

import cProfile
import io
import os
import pstats
import subprocess  # nosec B404
import sys
import tempfile
import time
from datetime import timedelta

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from feed.counters import counters_rebuild
from feed.models import AuthorDayCounts, Engagement, Tweet, TweetDayCounts, ViewerAuthorDayCounts
from ranking.serving.candidates import candidates_for
from ranking.serving.pipeline import feed_rank
from ranking.serving.scorer import LoadedModel, Scorer
from ranking.store import ranked_feed_store
from ranking.training.export import export_model
from ranking.training.fit import fit
from ranking.training.network import build_model, positive_rates
from ranking.training.synthetic import synthetic_examples
from users.models import Follow, User
from users.services import follower_counts_recount

AUTHORS, TWEETS_PER_AUTHOR = 100, 10
# The history of the normal world; the 10x world has HISTORY_SCALE times each.
FANS = 50  # people who follow every author and engage with their tweets
OLDER_TWEETS = 300  # older tweets the viewer saw, 9 days old
FAN_EVENTS_PER_TWEET = 5  # others' impressions and dwells on each candidate
LIKED_TWEETS, LIKES_PER_TWEET = 200, 3
HISTORY_SCALE = 10


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q) * 1000)


def _world_for_one_viewer(*, scale: int = 1) -> User:
    """A viewer following AUTHORS people who posted TWEETS_PER_AUTHOR tweets
    each in the past week (1,000 candidates), with history to count: the
    viewer's own on older tweets, others' on the candidates, followers.
    `scale` multiplies the history, not the candidates: FANS x scale
    followers per author, their impressions, dwells and likes on the
    candidates x scale, and (scale - 1) x OLDER_TWEETS more tweets the viewer
    saw, 31 to 120 days old. Bulk-inserted, then counted by a rebuild."""
    now = timezone.now()
    # Usernames: letters, digits and underscore, at most 30.
    stamp = f"{int(time.time() * 1000)}_{scale}"
    viewer = User.objects.create(username=f"bv_{stamp}")
    authors = User.objects.bulk_create([User(username=f"ba_{stamp}_{i}") for i in range(AUTHORS)])
    fans = User.objects.bulk_create([User(username=f"bf_{stamp}_{i}") for i in range(FANS * scale)])
    Follow.objects.bulk_create(
        [Follow(follower=viewer, followee=a, created_at=now - timedelta(days=30)) for a in authors]
        + [Follow(follower=f, followee=a, created_at=now - timedelta(days=60)) for f in fans for a in authors],
        batch_size=10_000,
    )
    rng = np.random.default_rng(scale)
    tweets = Tweet.objects.bulk_create(
        [
            Tweet(author=a, text=f"bench tweet {i} about topic {i % 7}", created_at=now - timedelta(hours=float(h)))
            for a in authors
            for i, h in enumerate(rng.uniform(0.1, 160, TWEETS_PER_AUTHOR))
        ]
    )
    # History on older tweets (seen ones are no candidates): affinities to count.
    ages = [timedelta(days=9)] * OLDER_TWEETS + [
        timedelta(days=float(d)) for d in rng.uniform(31, 120, (scale - 1) * OLDER_TWEETS)
    ]
    older = Tweet.objects.bulk_create(
        [
            Tweet(author=authors[i % AUTHORS], text=f"older bench tweet about topic {i % 7}", created_at=now - age)
            for i, age in enumerate(ages)
        ],
        batch_size=10_000,
    )
    events = []
    for tweet in older:
        at = tweet.created_at + timedelta(minutes=5)
        events.append(Engagement(user=viewer, tweet=tweet, kind="impression", created_at=at))
        events.append(
            Engagement(user=viewer, tweet=tweet, kind="dwell", dwell_ms=int(rng.integers(500, 20_000)), created_at=at)
        )
        if rng.random() < 0.2:
            events.append(Engagement(user=viewer, tweet=tweet, kind="like", created_at=at))
    for tweet in tweets:  # others' impressions and dwells on the candidates
        for fan in rng.choice(fans, FAN_EVENTS_PER_TWEET * scale, replace=False):
            # Within the hour after the post, and before now: the log holds no future.
            at = min(tweet.created_at + timedelta(minutes=float(rng.uniform(1, 60))), now - timedelta(seconds=1))
            events.append(Engagement(user=fan, tweet=tweet, kind="impression", created_at=at))
            events.append(
                Engagement(user=fan, tweet=tweet, kind="dwell", dwell_ms=int(rng.integers(500, 20_000)), created_at=at)
            )
    for tweet in rng.choice(tweets, LIKED_TWEETS, replace=False):  # and their likes
        likers = [
            *rng.choice(authors, LIKES_PER_TWEET, replace=False),
            *rng.choice(fans, LIKES_PER_TWEET * (scale - 1)),
        ]
        for fan in dict.fromkeys(likers):
            events.append(
                Engagement(
                    user=fan, tweet=tweet, kind="like", created_at=min(tweet.created_at + timedelta(minutes=9), now)
                )
            )
    Engagement.objects.bulk_create(events, batch_size=10_000)
    # Bulk rows bypass the services that keep the counters: count them as the services would have.
    counters_rebuild(author_ids=[a.pk for a in authors])
    follower_counts_recount(user_ids=[a.pk for a in authors])
    return viewer


TABLES = (Follow, Tweet, Engagement, User, TweetDayCounts, AuthorDayCounts, ViewerAuthorDayCounts)


def _analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(m._meta.db_table for m in TABLES)}")


def _vacuum() -> None:
    """Clear the dead rows earlier runs left: each rolls its worlds back,
    which leaves them at the recent end of the time indexes, and the planner
    walks those to find a range's actual end (6 to 10 ms more planning a
    build, measured with --explain, until vacuumed). Not inside a
    transaction, where VACUUM cannot run (a test's)."""
    if connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM {', '.join(m._meta.db_table for m in TABLES)}")


def _postgres_cpu_s() -> float | None:
    """CPU seconds this connection's PostgreSQL backend has used, from /proc
    (the capacity plan sizes the database by it); None when the server runs
    on another machine or its /proc is not readable here."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _bench_model() -> LoadedModel:
    """A model trained for one epoch on synthetic data: the build's cost does
    not depend on how well it ranks."""
    train = synthetic_examples(n=20_000, seed=3)
    model = build_model(train.features, positive_rates=positive_rates(train))
    fit(model, train, epochs=1, batch_size=1024)
    return LoadedModel(0, "bench", Scorer.from_bytes(export_model(model)))


def feed_build_profile(*, runs: int = 50, top: int = 25) -> str:
    """cProfile of `runs` builds of the normal world's viewer (after 3 to
    warm up): the `top` functions by their own time, then by cumulative
    time, as pstats prints them. Where a build's time goes, function by
    function; on this database, rolled back."""
    loaded = _bench_model()
    profile = cProfile.Profile()
    _vacuum()
    with transaction.atomic():
        viewer = _world_for_one_viewer()
        _analyze()
        for run in range(runs + 3):
            if run == 3:
                profile.enable()
            feed_rank(user_id=viewer.pk, at=timezone.now(), model=loaded, timings={})
        profile.disable()
        transaction.set_rollback(True)
    out = io.StringIO()
    for order in ("tottime", "cumulative"):
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(top)
    return out.getvalue()


def feed_build_explain() -> str:
    """Each statement one build runs (the viewer's graph, the candidates, the
    features), for the normal world's viewer and the 10x world's after 3
    builds to warm up, run again under EXPLAIN (ANALYZE, BUFFERS): its time
    to plan and to run and its buffer hits; then the slowest one's plan. On
    this database, rolled back."""
    loaded = _bench_model()
    lines = []
    _vacuum()
    with transaction.atomic():
        viewers = {"normal": _world_for_one_viewer(), "10x_history": _world_for_one_viewer(scale=HISTORY_SCALE)}
        _analyze()
        for world, viewer in viewers.items():
            for _ in range(3):
                feed_rank(user_id=viewer.pk, at=timezone.now(), model=loaded, timings={})
            statements: list[tuple[str, object]] = []

            def record(execute, sql, params, many, context, statements=statements):
                if sql.lstrip().upper().startswith(("SELECT", "WITH")):
                    statements.append((sql, params))
                return execute(sql, params, many, context)

            with connection.execute_wrapper(record):
                feed_rank(user_id=viewer.pk, at=timezone.now(), model=loaded, timings={})
            lines.append(f"{world}: plan ms, run ms, buffer hits, statement")
            slowest = (0.0, "")
            with connection.cursor() as cursor:
                for sql, params in statements:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
                    report = cursor.fetchone()[0][0]  # psycopg parses the json plan
                    head = " ".join(sql.split())[:70]
                    lines.append(
                        f"  {report['Planning Time']:6.2f} {report['Execution Time']:7.2f} "
                        f"{report['Plan']['Shared Hit Blocks']:7d}  {head}"
                    )
                    if report["Execution Time"] > slowest[0]:
                        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                        slowest = (report["Execution Time"], "\n".join(row[0] for row in cursor.fetchall()))
            lines += [f"  the slowest statement's plan ({world}):", slowest[1]]
        transaction.set_rollback(True)
    return "\n".join(lines) + "\n"


def feed_build_benchmark(*, runs: int = 50) -> dict:
    """Build one viewer's feed (100 followees, 1,000 candidates) `runs` times
    on a normal world and `runs` times on a world with HISTORY_SCALE times its
    history, alternating the two, with a model trained on synthetic data, on
    this database (rolled back)."""
    loaded = _bench_model()
    worlds = ("normal", "10x_history")
    totals: dict = {world: [] for world in worlds}
    stages: dict = {world: {"candidates": [], "features": [], "scoring": [], "heuristics": []} for world in worlds}
    # CPU per build, summed over the timed builds: /proc counts in clock ticks
    # (10 ms), too coarse for one build.
    cpu_s: dict = {world: {"worker": 0.0, "postgres": 0.0} for world in worlds}
    _vacuum()
    with transaction.atomic():
        viewers = {"normal": _world_for_one_viewer(), "10x_history": _world_for_one_viewer(scale=HISTORY_SCALE)}
        _analyze()
        for run in range(runs + 3):
            for world in worlds:
                laps: dict = {}
                postgres_began, worker_began = _postgres_cpu_s(), time.process_time()
                began = time.perf_counter()
                feed = feed_rank(user_id=viewers[world].pk, at=timezone.now(), model=loaded, timings=laps)
                ranked_feed_store(feed=feed)
                if run >= 3:  # the first builds warm caches and the graph up
                    totals[world].append(time.perf_counter() - began)
                    cpu_s[world]["worker"] += time.process_time() - worker_began
                    if postgres_began is not None:
                        cpu_s[world]["postgres"] += _postgres_cpu_s() - postgres_began
                    for stage, seconds in stages[world].items():
                        seconds.append(laps[stage])
        candidates = len(candidates_for(viewer_id=viewers["normal"].pk, at=timezone.now()).candidates)
        transaction.set_rollback(True)  # leave the database as it was
    normal, heavy = totals["normal"], totals["10x_history"]
    return {
        "candidates": candidates,
        "runs": runs,
        "total_p50_ms": _percentile(normal, 50),
        "total_p99_ms": _percentile(normal, 99),
        "total_p50_ms_10x_history": _percentile(heavy, 50),
        "total_p99_ms_10x_history": _percentile(heavy, 99),
        "history_ratio_p50": _percentile(heavy, 50) / _percentile(normal, 50),
        "stages_p50_ms": {stage: _percentile(seconds, 50) for stage, seconds in stages["normal"].items()},
        "stages_p50_ms_10x_history": {
            stage: _percentile(seconds, 50) for stage, seconds in stages["10x_history"].items()
        },
        "scoring_share_p50": float(np.median(np.array(stages["normal"]["scoring"]) / np.array(normal))),
        # Mean CPU-ms of one build, in the feeds worker and in PostgreSQL
        # (postgres 0 when its /proc could not be read).
        "cpu_ms_per_build": {kind: seconds * 1000 / runs for kind, seconds in cpu_s["normal"].items()},
        "cpu_ms_per_build_10x_history": {kind: seconds * 1000 / runs for kind, seconds in cpu_s["10x_history"].items()},
    }


WEB_PROCESS = """
import django, os, sys
django.setup()
import config.wsgi, config.urls
from django.test import Client
Client().get("/api/schema/")
assert "tensorflow" not in sys.modules
print(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
"""

WORKER_PROCESS = """
import django, sys
django.setup()
from config.celery import app
app.loader.import_default_modules()
from ranking.serving.scorer import Scorer
from ranking.training.synthetic import synthetic_examples
scorer = Scorer.from_bytes(open(sys.argv[1], "rb").read())
scorer.predict(synthetic_examples(n=1000, seed=5).features)
print(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
"""


def resident_memory_mb() -> dict:
    """RSS of a web process (Django, all urls, one request; no TensorFlow) and
    of a feeds worker process that loaded a model and scored 1,000 candidates."""
    sample = synthetic_examples(n=2000, seed=4)
    artifact = export_model(build_model(sample.features, positive_rates=positive_rates(sample)))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    with tempfile.NamedTemporaryFile(suffix=".zip") as file:
        file.write(artifact)
        file.flush()
        # Our own interpreter running our own scripts: no untrusted input.
        run = {"env": env, "capture_output": True, "text": True, "check": True}
        web = subprocess.run([sys.executable, "-c", WEB_PROCESS], **run)  # noqa: S603  # nosec B603
        worker = subprocess.run([sys.executable, "-c", WORKER_PROCESS, file.name], **run)  # noqa: S603  # nosec B603
    return {"web_mb": int(web.stdout.split()[-1]) / 1024, "feeds_worker_mb": int(worker.stdout.split()[-1]) / 1024}
