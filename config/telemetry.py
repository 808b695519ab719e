"""The product's Prometheus metrics: every definition is here, beside the
functions that record them, so the feed code only calls one function.

Two kinds:
- recorded where they happen: feed build latency by stage and candidates per
  build (in the feeds worker), feeds served by ranking state (in the web
  process). Under gunicorn and Celery's prefork pool these are written to
  PROMETHEUS_MULTIPROC_DIR and summed over the processes at scrape time.
- read at scrape time (config.scrape): queue lengths from the broker, the
  active model version, and its per-head calibration.

Only prometheus_client here: the web process imports this module and must
never import TensorFlow.
"""

import functools
import logging
import os

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client import start_http_server as prometheus_http_server
from prometheus_client.registry import REGISTRY

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

MODEL_LOAD_FAILURES = Counter(
    "ranked_feed_model_load_failures",
    "Times a feeds worker could not load a model version it was to rank with (artifact missing, "
    "corrupt or incompatible; for an experiment's variant, also missing or retired); the default feed falls back to "
    "the previous loadable version, or to the chronological feed, a variant to the chronological feed.",
    ["version"],
)
EXPERIMENT_FALLBACKS = Counter(
    "ranked_feed_experiment_fallbacks",
    "Feed builds for an experiment's variant whose ranker could not serve (its model version missing, retired or "
    "unloadable): the variant's users get the chronological feed meanwhile.",
    ["experiment", "variant"],
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


def model_load_failure_observe(*, version: str) -> None:
    """Count one failed load of model version `version`."""
    MODEL_LOAD_FAILURES.labels(version=version).inc()


def experiment_fallback_observe(*, experiment: str, variant: str) -> None:
    """Count one build of `experiment`'s `variant` that its ranker could not serve."""
    EXPERIMENT_FALLBACKS.labels(experiment=experiment, variant=variant).inc()


def observes_feed_served(read):
    """Decorate the feed read service so that every page it returns is
    counted by its `ranking` state (a page that raised is not served)."""

    @functools.wraps(read)
    def wrapper(*args, **kwargs):
        page = read(*args, **kwargs)
        feed_served_observe(ranking=page.ranking)
        return page

    return wrapper


def process_registry() -> CollectorRegistry:
    """The recorded metrics of every process of this server: summed from
    PROMETHEUS_MULTIPROC_DIR under gunicorn or prefork, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def worker_metrics_serve(*, port: int) -> None:
    """Serve a Celery worker's recorded metrics (all its pool processes) on
    `port`, in a thread of the worker's main process."""
    prometheus_http_server(port, registry=process_registry())
    logger.info("Worker metrics on port %s", port)


def process_exited(pid: int) -> None:
    """Forget a dead process's live gauges (gunicorn's child_exit hook and
    Celery's pool process shutdown call it)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
