"""Celery tasks: thin, idempotent, taking ids. The web side's code enqueues
them by name (ranking.feeds) and never imports them. Model work is imported
inside its task, never at module top: Celery loads this module in every
process that uses the app, and neither the web process nor the `default`
queue's workers may pay for TensorFlow."""

import logging
from datetime import timedelta

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from config.celery import enqueue
from ranking.fanout import followers_to_notify
from ranking.store import feeds_mark_stale

logger = logging.getLogger(__name__)

# The nightly model learns from the recent log: old behaviour ages out, and
# training time stays bounded as the log grows.
TRAINING_WINDOW_DAYS = 28


# Routed to the `training` queue by its name (CELERY_TASK_ROUTES sends
# ranking.tasks.train_* there), so a long training never delays a feed build.
@shared_task(acks_late=True)
def train_ranker_task(days: int | None = TRAINING_WINDOW_DAYS, activate: bool = False) -> dict:
    """Train a ranker on the last `days` of the log (all of it with None),
    register it, and activate it when it beats the active version. Too little
    data is logged and reported, not raised: the nightly run tries again the
    next night. Running it twice registers two versions; the second is
    activated only if it ranks better still."""
    from ranking.training.train import TrainingError, train_ranker

    since = timezone.now() - timedelta(days=days) if days else None
    try:
        result = train_ranker(since=since, activate=activate)
    except TrainingError as exc:
        logger.warning("Ranker not trained: %s", exc)
        return {"trained": False, "reason": str(exc)}
    return {
        "trained": True,
        "version": result.version.name,
        "activated": result.activated,
        "reason": result.reason,
        "ndcg_at_10": result.metrics["ndcg_at_10"],
    }


# A build lost with its whole worker is asked for again by the next read once
# its "building" mark expires (FEED_BUILD_MARK_TTL_S), and one whose pool
# process died goes back to the queue at once (reject_on_worker_lost). One
# that failed for a transient reason, PostgreSQL's connection lost or refused
# (a restart, a failover), is retried here, backing off: waits of at most 1,
# 2, 4 and 8 s (jittered, so that many builds do not all come back at once).
@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=1,
    retry_backoff_max=8,
    max_retries=4,
)
def build_feed(user_id: int) -> int:
    """Build and store one user's ranked feed. Idempotent: a rebuild replaces it."""
    from ranking.serving.pipeline import feed_build

    feed = feed_build(user_id=user_id)
    return len(feed.items) if feed else 0


@shared_task(acks_late=True)
def fanout_tweet(tweet_id: int) -> int:
    """A new tweet: mark its author's recently active followers' feeds stale,
    a task per chunk. Returns how many followers were marked."""
    marked = 0
    for chunk in followers_to_notify(tweet_id=tweet_id):
        enqueue(mark_feeds_stale.name, chunk)
        marked += len(chunk)
    return marked


@shared_task(acks_late=True)
def mark_feeds_stale(user_ids: list[int]) -> None:
    feeds_mark_stale(user_ids=user_ids)


@shared_task(acks_late=True)
def prune_counters() -> int:
    """Nightly (beat): the counters' day rows no build reads any more."""
    from ranking.serving.features import counters_prune_unread

    return counters_prune_unread(at=timezone.now())
