import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import current_app
from django.core.cache import cache
from kombu import pools
from rest_framework.test import APIClient

from ranking import registry
from ranking.experiments.assignment import running_experiment
from ranking.spec import FEATURE_SPEC_VERSION
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings):
    # Hashing passwords the production way costs ~0.3 s a user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def experiment_cached(db):
    """The running experiment (none) read once into the cache, as every
    process keeps it between starts and stops: feed reads then cost no
    query for it, which the query-counting tests count on."""
    running_experiment()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def api_for(db):
    """A client logged in as the given user (a new one when omitted)."""

    def make(user=None):
        client = APIClient()
        client.user = user or UserFactory()
        client.force_authenticate(client.user)
        return client

    return make


@pytest.fixture
def user_api(api_for, user):
    return api_for(user)


@pytest.fixture
def logged_in(client, user):
    """Django's test client (pages, not the API), logged in as `user`."""
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture(scope="session")
def model_artifact() -> bytes:
    """A small model trained once per test run on synthetic examples."""
    from ranking.training.export import export_model
    from ranking.training.fit import fit
    from ranking.training.network import build_model, positive_rates
    from ranking.training.synthetic import synthetic_examples

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


def celery_worker_start(log_path: Path) -> subprocess.Popen:
    """Start a real Celery worker process (one process: the solo pool) on the
    real broker (this process's environment: REDIS_URL, CELERY_BROKER_URL)
    and the test database, appending to `log_path`; return once it answers
    a ping."""
    from django.db import connection

    app = current_app._get_current_object()
    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
    }
    with log_path.open("a") as log:
        worker = subprocess.Popen(  # nosec B603: our own interpreter and arguments
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,feeds", "-P", "solo",
             "-n", name, "-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[1],
        )  # fmt: skip
    wait_for(lambda: worker.poll() is not None or app.control.ping(destination=[name], timeout=0.5), timeout_s=30)
    assert worker.poll() is None, log_path.read_text()
    return worker


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """A real Celery worker process, on the real broker, against the test
    database (so the test must commit what the worker is to see)."""
    current_app.control.purge()
    log_path = tmp_path / "worker.log"
    worker = celery_worker_start(log_path)
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=15)
        print(log_path.read_text()[-3000:])


def broker_reconnect(app, broker_url: str) -> None:
    """Point the Celery app at another broker, dropping its pooled connections."""
    app.pool.force_close_all()
    pools.reset()  # kombu keeps its producer pools globally, by connection
    app.conf.broker_write_url = broker_url  # what publishing connects to
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """The broker is unreachable from this process (nothing listens where it
    points), until the test calls the fixture's value to bring it back."""
    app = current_app._get_current_object()
    before = app.conf.broker_write_url
    broker_reconnect(app, "redis://127.0.0.1:1/0")
    back = [False]

    def bring_back() -> None:
        broker_reconnect(app, before)
        back[0] = True

    yield bring_back
    if not back[0]:
        broker_reconnect(app, before)
