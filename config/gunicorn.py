"""gunicorn settings for the web process (`gunicorn -c config/gunicorn.py config.wsgi`).
Every value can be overridden on the command line or with GUNICORN_CMD_ARGS."""

import os

from config import telemetry

# In a container, behind the ingress: every interface of the pod.
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Two cores per pod and sync workers: requests wait on PostgreSQL and Redis,
# never on the model, so a few processes per core keep both cores busy.
# Measured with make bench-serving (feed req/s at 32 clients, gunicorn on one
# core, a busy 2-core machine): 2 sync workers 85 and 78, 3 75 and 82, 4 46
# and 70, 5 65; gthread (2 workers x 4 threads) 84 and 91, its p99 at 4 clients
# up to 400 ms. 2, 3 and gthread are within the noise; 3 sync workers stay
# (no threads sharing one GIL, one spare process while another waits on SQL).
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = 30
graceful_timeout = 20
keepalive = 5
# gunicorn's heartbeat files (not data) in memory: the container's root
# filesystem is read-only.
worker_tmp_dir = "/dev/shm"  # noqa: S108  # nosec B108
accesslog = "-"
# Restarting a worker after many requests bounds slow leaks.
max_requests = 2000
max_requests_jitter = 200


def child_exit(server, worker):
    """prometheus_client's multiprocess mode: drop a dead worker's live gauges."""
    telemetry.process_exited(worker.pid)
