"""Liveness, readiness and the metrics endpoint, for load balancers, the
orchestrator and Prometheus.

- /healthz: the process answers. No dependency is touched, so a database
  outage never gets every web pod restarted (that would not fix it).
- /readyz: django-health-check runs PostgreSQL, Redis and broker checks; any
  of them failing takes the pod out of the load balancer (503). Whether a
  ranking model is active is reported too, but never blocks: without one the
  feed is chronological, which is a degraded product, not an outage.
- /metrics: Prometheus text, behind a bearer token (METRICS_TOKEN).
"""

import asyncio
import dataclasses
import datetime
import hmac

import redis.asyncio
from asgiref.sync import sync_to_async
from celery import current_app
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable, ServiceWarning
from health_check.views import HealthCheckView

from config import scrape
from ranking.registry import active_model_state

# Kept below the probes' own timeouts (compose and Kubernetes give 5 s).
CHECK_TIMEOUT = datetime.timedelta(seconds=2)


@dataclasses.dataclass
class Broker(HealthCheck):
    """The Celery broker accepts a connection: without it no feed is built
    and no tweet fans out. Workers are not asked (that is their own probe):
    the web process stays ready while workers restart."""

    timeout: datetime.timedelta = dataclasses.field(default=CHECK_TIMEOUT, repr=False)

    def run(self):
        try:
            with current_app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=self.timeout.total_seconds())
        except Exception as exc:  # kombu raises the transport's own errors
            raise ServiceUnavailable(f"Broker unreachable: {type(exc).__name__}") from exc


@dataclasses.dataclass
class ActiveModel(HealthCheck):
    """Whether a ranking model is active. Reported, never blocking (see
    `ReadinessView.blocking`)."""

    async def run(self):
        # On the request's own thread and database connection, as any view.
        try:
            state = await sync_to_async(active_model_state)()
        except DatabaseError as exc:
            raise ServiceWarning("Unknown: the database does not answer") from exc
        if state is None:
            raise ServiceWarning("No active ranking model: the feed is chronological")


class ReadinessView(HealthCheckView):
    """django-health-check's view, answering JSON only, with 503 when a
    blocking check fails; a failing non-blocking check is reported only."""

    blocking = (Database, Redis, Broker)

    def get_checks(self):
        yield Database(alias="default")
        if settings.REDIS_URL:
            url = settings.REDIS_URL
            yield Redis(client_factory=lambda: redis.asyncio.Redis.from_url(url, socket_connect_timeout=1))
        yield Broker()
        yield ActiveModel()

    async def get(self, request, *args, **kwargs):
        self.results = await asyncio.gather(*(check.get_result() for check in self.get_checks()))
        failed = [r for r in self.results if r.error and isinstance(r.check, self.blocking)]
        return JsonResponse(
            {
                "status": "not ready" if failed else "ready",
                "checks": {
                    repr(r.check): {
                        "ok": r.error is None,
                        "blocking": isinstance(r.check, self.blocking),
                        "detail": str(r.error) if r.error else "OK",
                    }
                    for r in self.results
                },
            },
            status=503 if failed else 200,
        )


@require_GET
def healthz(request):
    """Liveness: the process serves requests."""
    return JsonResponse({"status": "ok"})


def _token_matches(request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), settings.METRICS_TOKEN.encode())


@require_GET
def metrics(request):
    """Prometheus exposition, for a scraper holding METRICS_TOKEN."""
    if not settings.METRICS_TOKEN:
        return JsonResponse({"detail": "Metrics are off: set METRICS_TOKEN."}, status=404)
    if not _token_matches(request):
        response = JsonResponse({"detail": "A bearer token is required."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(scrape.metrics_exposition(), content_type="text/plain; version=0.0.4; charset=utf-8")


readyz = ReadinessView.as_view()
