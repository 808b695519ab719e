"""The product's Prometheus metrics: every definition is here, beside the
functions that record them, so the feed code only calls one function.

Two kinds:
- recorded where they happen: feed build latency by stage and candidates per
  build (in the feeds worker), feeds served by ranking state (in the web
  process). Under gunicorn and Celery's prefork pool these are written to
  PROMETHEUS_MULTIPROC_DIR and summed over the processes at scrape time.
- read at scrape time (`ScrapeCollector`): queue lengths from the broker,
  the active model version, and its per-head calibration. They are facts
  about shared state, not about one process, so no process keeps them.

Only prometheus_client here: the web process imports this module and must
never import TensorFlow.
"""

import functools
import logging
import math
import os

from django.conf import settings
from django.db import DatabaseError
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client import start_http_server as prometheus_http_server
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import REGISTRY, Collector

logger = logging.getLogger(__name__)

FEED_BUILD_STAGES = ("candidates", "features", "scoring", "heuristics")
RANKING_STATES = ("ranked", "pending", "off")

# A build is ~41 ms at p50 on a 2-core machine (README, `make bench-ranking`);
# the buckets reach well past the 1 s a feed may take before it is stale news.
FEED_BUILD_STAGE_SECONDS = Histogram(
    "ranked_feed_build_stage_seconds",
    "Seconds one stage of a ranked feed build took, in the feeds worker.",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
FEED_BUILD_SECONDS = Histogram(
    "ranked_feed_build_seconds",
    "Seconds a whole ranked feed build took (all stages), in the feeds worker.",
    buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# Candidates are capped at 1,000 in-network plus 200 out-of-network.
FEED_BUILD_CANDIDATES = Histogram(
    "ranked_feed_build_candidates",
    "Candidates one ranked feed build scored.",
    buckets=(0, 10, 50, 100, 250, 500, 750, 1000, 1200),
)
FEEDS_SERVED = Counter(
    "ranked_feed_served",
    "Home feed pages served, by ranking state: ranked (a stored list), pending "
    "(asked for ranked, given the latest timeline while a build runs) or off (latest asked for).",
    ["ranking"],
)


def feed_build_observe(*, stages: dict[str, float], candidates: int) -> None:
    """Record one feed build: seconds per stage (a Stopwatch's laps) and how
    many candidates it had."""
    for stage, seconds in stages.items():
        FEED_BUILD_STAGE_SECONDS.labels(stage=stage).observe(seconds)
    FEED_BUILD_SECONDS.observe(sum(stages.values()))
    FEED_BUILD_CANDIDATES.observe(candidates)


def feed_served_observe(*, ranking: str) -> None:
    """Count one feed page served in ranking state `ranking`."""
    FEEDS_SERVED.labels(ranking=ranking).inc()


def observes_feed_served(read):
    """Decorate the feed read service so that every page it returns is
    counted by its `ranking` state (a page that raised is not served)."""

    @functools.wraps(read)
    def wrapper(*args, **kwargs):
        page = read(*args, **kwargs)
        feed_served_observe(ranking=page.ranking)
        return page

    return wrapper


# --- Read at scrape time -----------------------------------------------------

# kombu's Redis transport keeps a queue's priorities 3, 6 and 9 in lists named
# after it with this separator; priority 0 (what we send) is the plain name.
REDIS_PRIORITY_SEPARATOR = "\x06\x16"
REDIS_PRIORITY_STEPS = (3, 6, 9)


def queue_lengths() -> dict[str, int] | None:
    """Messages waiting in each Celery queue (Redis LLEN), or None when the
    broker is not Redis or does not answer."""
    broker_url = settings.CELERY_BROKER_URL
    if not broker_url.startswith(("redis://", "rediss://")):
        return None
    import redis

    client = redis.Redis.from_url(broker_url, socket_connect_timeout=0.5, socket_timeout=0.5)
    names = [queue.name for queue in settings.CELERY_TASK_QUEUES]
    try:
        with client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.llen(name)
                for step in REDIS_PRIORITY_STEPS:
                    pipe.llen(f"{name}{REDIS_PRIORITY_SEPARATOR}{step}")
            counts = pipe.execute()
    except redis.RedisError:
        logger.warning("Queue lengths not collected: the broker does not answer", exc_info=True)
        return None
    finally:
        client.close()
    per_queue = 1 + len(REDIS_PRIORITY_STEPS)
    return {name: sum(counts[i * per_queue : (i + 1) * per_queue]) for i, name in enumerate(names)}


def active_model_state() -> tuple[str, dict] | None:
    """(name, per-head validation metrics) of the active model, or None."""
    from ranking.models import ModelVersion

    row = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).values_list("name", "metrics").first()
    if row is None:
        return None
    name, metrics = row
    return name, (metrics or {}).get("heads") or {}


class ScrapeCollector(Collector):
    """Metrics computed when Prometheus scrapes: they describe shared state
    (the broker, the registry), so they are read, not kept."""

    def collect(self):
        lengths = queue_lengths()
        if lengths is not None:
            queues = GaugeMetricFamily(
                "ranked_feed_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"]
            )
            for name, length in lengths.items():
                queues.add_metric([name], length)
            yield queues

        try:
            state = active_model_state()
        except DatabaseError:
            # A scrape must answer while the database is down: the request
            # and queue metrics are what tells the operator so.
            logger.warning("Model metrics not collected: the database does not answer", exc_info=True)
            return
        present = GaugeMetricFamily("ranked_feed_active_model_present", "1 when a ranking model is active.")
        present.add_metric([], 1 if state else 0)
        yield present
        if state is None:
            return
        name, heads = state
        info = InfoMetricFamily("ranked_feed_active_model", "The ranking model the feeds workers score with.")
        info.add_metric([], {"version": name})
        yield info

        predicted = GaugeMetricFamily(
            "ranked_feed_model_mean_predicted",
            "The active model's mean predicted probability per head, on its validation slice.",
            labels=["head"],
        )
        observed = GaugeMetricFamily(
            "ranked_feed_model_observed_rate",
            "The observed rate per head on the active model's validation slice.",
            labels=["head"],
        )
        # Predicted over observed: 1 is calibrated; the alert fires on drift
        # either way. A head with no observed positives has no ratio.
        ratio = GaugeMetricFamily(
            "ranked_feed_model_calibration_ratio",
            "Mean predicted probability over observed rate, per head (1 = calibrated).",
            labels=["head"],
        )
        for head, values in sorted(heads.items()):
            mean, rate = values.get("mean_predicted"), values.get("observed_rate")
            if mean is None or rate is None:
                continue
            predicted.add_metric([head], mean)
            observed.add_metric([head], rate)
            if rate > 0 and math.isfinite(mean):
                ratio.add_metric([head], mean / rate)
        yield predicted
        yield observed
        yield ratio


def _process_registry() -> CollectorRegistry:
    """The recorded metrics of every process of this server: summed from
    PROMETHEUS_MULTIPROC_DIR under gunicorn or prefork, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics_exposition() -> bytes:
    """The text exposition /metrics serves: recorded plus scrape-time metrics."""
    scraped = CollectorRegistry()
    scraped.register(ScrapeCollector())
    return generate_latest(_process_registry()) + generate_latest(scraped)


def worker_metrics_serve(*, port: int) -> None:
    """Serve a Celery worker's recorded metrics (all its pool processes) on
    `port`, in a thread of the worker's main process."""
    prometheus_http_server(port, registry=_process_registry())
    logger.info("Worker metrics on port %s", port)


def process_exited(pid: int) -> None:
    """Forget a dead process's live gauges (gunicorn's child_exit hook and
    Celery's pool process shutdown call it)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
