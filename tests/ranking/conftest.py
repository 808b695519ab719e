import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import current_app

from ranking import registry
from ranking.features import FEATURE_SPEC_VERSION


@pytest.fixture(scope="session")
def model_artifact() -> bytes:
    """A small model trained once per test run on synthetic examples."""
    from ranking.model import build_model, export_model, fit, positive_rates
    from ranking.model_benchmark import synthetic_examples

    train = synthetic_examples(n=3000, seed=2)
    model = build_model(train.features, positive_rates=positive_rates(train))
    fit(model, train, epochs=1, batch_size=512)
    return export_model(model)


@pytest.fixture
def active_model(db, model_artifact):
    version = registry.register(
        artifact=model_artifact, metrics={"ndcg_at_10": 0.5}, feature_spec_version=FEATURE_SPEC_VERSION
    )
    return registry.version_activate(version=version)


def wait_for(condition, *, timeout_s: float = 60, every_s: float = 0.25):
    """Poll until `condition()` returns something truthy; returns it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(every_s)
    raise AssertionError(f"gave up waiting after {timeout_s} s")


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """A real Celery worker process, on the real broker, against the test
    database (so the test must commit what the worker is to see)."""
    from django.db import connection

    app = current_app._get_current_object()
    app.control.purge()
    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(  # nosec B603: our own interpreter and arguments
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,feeds", "-P", "solo",
             "-n", name, "-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
        try:
            wait_for(
                lambda: worker.poll() is not None or app.control.ping(destination=[name], timeout=0.5), timeout_s=30
            )
            assert worker.poll() is None, log_path.read_text()
            yield worker
        finally:
            worker.terminate()
            worker.wait(timeout=15)
    print(log_path.read_text()[-3000:])
