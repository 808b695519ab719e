"""/healthz, /readyz and /metrics against the real PostgreSQL, Redis and broker."""

import re

import pytest
from celery import current_app
from django.utils import timezone

from ranking.models import ModelVersion
from tests.factories import UserFactory, follow, tweet

pytestmark = pytest.mark.django_db

# Nothing listens there: a Redis that is down.
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"


def checks_by_name(body: dict) -> dict:
    """The readiness checks keyed by their class name (reprs carry arguments)."""
    return {name.split("(")[0]: check for name, check in body["checks"].items()}


def active_version(**metrics) -> ModelVersion:
    return ModelVersion.objects.create(
        name="v-ops",
        status=ModelVersion.Status.ACTIVE,
        activated_at=timezone.now(),
        metrics=metrics,
        feature_spec_version=1,
        artifact=b"",
    )


def test_liveness_touches_no_dependency(client, settings, django_assert_num_queries):
    settings.REDIS_URL = DEAD_REDIS_URL

    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_without_an_active_model_reports_it_and_stays_ready(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    checks = checks_by_name(body)
    assert set(checks) == {"Database", "Redis", "Broker", "ActiveModel"}
    assert all(checks[name]["ok"] for name in ("Database", "Redis", "Broker"))
    assert checks["ActiveModel"] == {
        "ok": False,
        "blocking": False,
        "detail": "Warning: No active ranking model: the feed is chronological",
    }


def test_ready_with_an_active_model(client):
    active_version()

    checks = checks_by_name(client.get("/readyz").json())

    assert checks["ActiveModel"]["ok"] is True


def test_not_ready_when_redis_is_down(client, settings):
    settings.REDIS_URL = DEAD_REDIS_URL

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "not ready"
    redis_check = checks_by_name(body)["Redis"]
    assert redis_check["ok"] is False
    assert redis_check["blocking"] is True
    assert "Unable to connect to Redis" in redis_check["detail"]
    assert checks_by_name(body)["Database"]["ok"] is True


def test_metrics_are_off_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""

    response = client.get("/metrics")

    assert response.status_code == 404
    assert "METRICS_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Token the-token", "the-token"])
def test_metrics_need_the_bearer_token(client, settings, authorization):
    settings.METRICS_TOKEN = "the-token"
    headers = {"Authorization": authorization} if authorization else {}

    response = client.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert response.json() == {"detail": "A bearer token is required."}


def sample(text: str, name: str, **labels) -> float | None:
    """The value of one sample in a Prometheus text exposition, or None."""
    rendered = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + rendered + '}') if labels else ''} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else None


def test_metrics_after_a_feed_read(client, settings, api_for, django_capture_on_commit_callbacks):
    settings.METRICS_TOKEN = "the-token"
    scrape = {"Authorization": "Bearer the-token"}
    current_app.control.purge()
    active_version(
        heads={
            "like": {"mean_predicted": 0.08, "observed_rate": 0.04},
            "report": {"mean_predicted": 0.001, "observed_rate": 0.0},
        }
    )
    before = client.get("/metrics", headers=scrape).content.decode()
    viewer = api_for()
    author = UserFactory()
    follow(viewer.user, author)
    tweet(author, "hello")

    with django_capture_on_commit_callbacks(execute=True):
        assert viewer.get("/api/feed/").json()["ranking"] == "pending"
    assert viewer.get("/api/feed/?mode=latest").json()["ranking"] == "off"
    response = client.get("/metrics", headers=scrape)

    assert response.status_code == 200
    text = response.content.decode()
    for ranking in ("pending", "off"):
        was = sample(before, "ranked_feed_served_total", ranking=ranking) or 0
        assert sample(text, "ranked_feed_served_total", ranking=ranking) == was + 1
    # Request metrics from django-prometheus's middleware.
    assert sample(text, "django_http_requests_total_by_method_total", method="GET") > 0
    # The pending read enqueued one build on the real broker.
    assert sample(text, "ranked_feed_celery_queue_length", queue="feeds") == 1
    assert sample(text, "ranked_feed_celery_queue_length", queue="training") == 0
    assert sample(text, "ranked_feed_active_model_present") == 1
    assert sample(text, "ranked_feed_active_model_info", version="v-ops") == 1
    assert sample(text, "ranked_feed_model_mean_predicted", head="like") == pytest.approx(0.08)
    assert sample(text, "ranked_feed_model_observed_rate", head="like") == pytest.approx(0.04)
    assert sample(text, "ranked_feed_model_calibration_ratio", head="like") == pytest.approx(2.0)
    # No observed reports: no ratio to draw, rather than an infinite one.
    assert sample(text, "ranked_feed_model_calibration_ratio", head="report") is None
    # Declared even before a build has run in this process (worker metrics).
    assert "# TYPE ranked_feed_build_stage_seconds histogram" in text
    assert "# TYPE ranked_feed_build_candidates histogram" in text
    current_app.control.purge()


def test_metrics_without_an_active_model(client, settings):
    settings.METRICS_TOKEN = "the-token"

    text = client.get("/metrics", headers={"Authorization": "Bearer the-token"}).content.decode()

    assert sample(text, "ranked_feed_active_model_present") == 0
    assert "ranked_feed_active_model_info" not in text


def test_metrics_answer_while_the_broker_is_down(client, settings):
    settings.METRICS_TOKEN = "the-token"
    settings.CELERY_BROKER_URL = DEAD_REDIS_URL

    response = client.get("/metrics", headers={"Authorization": "Bearer the-token"})

    assert response.status_code == 200
    text = response.content.decode()
    assert "ranked_feed_celery_queue_length" not in text
    assert sample(text, "ranked_feed_active_model_present") == 0
