"""The metrics /metrics computes when Prometheus scrapes: queue lengths from
the broker, the active model version and its per-head calibration. They are
facts about shared state, not about one process, so no process keeps them.
Beside them, the recorded metrics of config.telemetry."""

import logging
import math

from django.conf import settings
from django.db import DatabaseError
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from config.telemetry import process_registry
from ranking.registry import active_model_state

logger = logging.getLogger(__name__)

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


def metrics_exposition() -> bytes:
    """The text exposition /metrics serves: recorded plus scrape-time metrics."""
    scraped = CollectorRegistry()
    scraped.register(ScrapeCollector())
    return generate_latest(process_registry()) + generate_latest(scraped)
