"""LOG_FORMAT=json: one JSON object per line, each with the request id, in
the web process and in the worker that runs a task the request enqueued."""

import copy
import io
import json
import logging
import uuid
from logging.config import dictConfig

import pytest
from django.conf import settings as django_settings

from tests.conftest import wait_for


@pytest.fixture
def json_log_lines():
    """The root logger configured from the settings with the JSON formatter,
    writing to a buffer; returns a function giving the parsed lines."""
    config = copy.deepcopy(django_settings.LOGGING)
    config["handlers"]["console"]["formatter"] = "json"
    dictConfig(config)
    buffer = io.StringIO()
    logging.getLogger().handlers[0].setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        dictConfig(django_settings.LOGGING)


@pytest.mark.django_db
def test_json_lines_carry_the_callers_request_id(client, json_log_lines):
    request_id = uuid.uuid4().hex

    response = client.get("/api/tweets/999999/", headers={"X-Request-ID": request_id})

    assert response.status_code == 404
    assert response["X-Request-ID"] == request_id
    lines = json_log_lines()
    assert lines, "the 404 is logged by django.request"
    assert all(line["request_id"] == request_id for line in lines)
    not_found = next(line for line in lines if line["logger"] == "django.request")
    assert not_found["level"] == "WARNING"
    assert "Not Found: /api/tweets/999999/" in not_found["message"]
    assert {"time", "process"} <= set(not_found)


@pytest.mark.django_db
def test_a_request_id_that_is_not_a_uuid_is_replaced(client, json_log_lines):
    response = client.get("/api/tweets/999999/", headers={"X-Request-ID": 'evil"\n{"level": "CRITICAL"}'})

    generated = response["X-Request-ID"]
    assert uuid.UUID(generated)
    assert [line["request_id"] for line in json_log_lines() if line["logger"] == "django.request"] == [generated]


@pytest.fixture
def worker_logs_json(monkeypatch):
    """Read by celery_worker_process when it starts the worker: list it first."""
    monkeypatch.setenv("LOG_FORMAT", "json")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker_logs_json", "celery_worker_process")
def test_the_request_id_reaches_the_tasks_the_request_enqueues(api_for, tmp_path):
    request_id = uuid.uuid4().hex
    author = api_for()

    response = author.post("/api/tweets/", {"text": "fan me out"}, format="json", headers={"X-Request-ID": request_id})
    assert response.status_code == 201

    def fanout_line():
        for line in (tmp_path / "worker.log").read_text().splitlines():
            if line.startswith("{") and "ranking.tasks.fanout_tweet" in line and "succeeded" in line:
                return json.loads(line)
        return None

    logged = wait_for(fanout_line, timeout_s=30)
    assert logged["request_id"] == request_id
