"""The Celery app. Workers run model work; the web process only enqueues."""

import logging
import os

from celery import Celery
from celery.signals import worker_process_shutdown, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
logger = logging.getLogger(__name__)


def enqueue(task_name: str, *args) -> None:
    """Send the task named `task_name` once the current transaction commits
    (at once outside one), routed by its name (CELERY_TASK_ROUTES). By name,
    so the web process never imports task modules and what they import.
    A broker outage is logged, never raised: posting and reading must go on
    without it, and every task's work can be redone later from PostgreSQL."""
    from django.db import transaction

    def send():
        try:
            app.send_task(task_name, args=args)
        except Exception:
            logger.exception("Could not enqueue %s%s: is the broker down?", task_name, args)

    transaction.on_commit(send)


def enqueue_now(task_name: str, *args, expires_s: float | None = None) -> bool:
    """Send the task named `task_name` at once, not on commit, and say
    whether the broker took it: for a caller that must know, such as a read
    that marks a feed build as asked for only once it was. A broker outage
    is logged and answers False. Only for tasks that need nothing of the
    current transaction. `expires_s`: a worker that takes the task later
    than this skips it (a redelivered, long-orphaned build)."""
    try:
        app.send_task(task_name, args=args, expires=expires_s)
    except Exception:
        logger.exception("Could not enqueue %s%s: is the broker down?", task_name, args)
        return False
    return True


@worker_ready.connect
def _serve_worker_metrics(**kwargs) -> None:
    """A worker with METRICS_WORKER_PORT set serves what its pool processes
    recorded (feed build latency, candidates) for Prometheus to scrape."""
    from django.conf import settings

    from config import telemetry

    if settings.METRICS_WORKER_PORT:
        telemetry.worker_metrics_serve(port=settings.METRICS_WORKER_PORT)


@worker_process_shutdown.connect
def _forget_pool_process(pid=None, **kwargs) -> None:
    from config import telemetry

    telemetry.process_exited(pid or os.getpid())
