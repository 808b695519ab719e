"""Recovery (issue 12), through the API: a build lost with its worker or
failed for a transient reason is redone within seconds, a broker outage at
the moment of a request leaves no "building" mark behind, and an unloadable
model falls back to the version it replaced, or to the chronological feed
("off"), never "pending" forever. The worker tests run a real Celery worker
process on the real broker, Redis and PostgreSQL."""

import io
import json
import logging
import time
import zipfile
from contextlib import contextmanager

import psycopg
import pytest
import redis
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from prometheus_client import REGISTRY

from ranking.models import ModelVersion
from ranking.registry import register, version_activate
from ranking.serving.scorer import METADATA_FILE
from ranking.spec import FEATURE_SPEC_VERSION
from ranking.store import building_marked, ranked_feed_get, ranking_unavailable
from ranking.tasks import build_feed
from tests.conftest import celery_worker_start, wait_for
from tests.factories import UserFactory, follow, tweet
from tests.test_settings import SETUP, run_python


def viewer_with_tweets(api_for):
    """A viewer following two people who posted three tweets each."""
    viewer = api_for()
    alice, bob = UserFactory.create_batch(2)
    follow(viewer.user, alice, bob)
    viewer.posted = {tweet(author, f"tweet {n} about python").pk for n, author in enumerate([alice, bob] * 3)}
    return viewer


def home(viewer) -> dict:
    response = viewer.get("/api/feed/")
    assert response.status_code == 200
    return response.json()


def database_connect(**options) -> psycopg.Connection:
    """A connection of its own to the test database, beside Django's."""
    database = connection.settings_dict
    return psycopg.connect(
        host=database["HOST"], port=database["PORT"], user=database["USER"], dbname=database["NAME"], **options
    )


@contextmanager
def model_table_locked():
    """Hold an exclusive lock on the model registry's table from another
    connection: a build waits on it at its first step (which model is
    active), so a test can act while a build is under way. Yields a second
    connection (autocommit: the activity view is read afresh each time) to
    find the build held up (`backend_held_up`) and end it."""
    with database_connect() as locker, database_connect(autocommit=True) as observer:
        locker.execute(f"LOCK TABLE {ModelVersion._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        yield observer
        locker.rollback()


def backend_held_up(observer) -> int | None:
    """The process id of a database session waiting for the lock on the
    model registry's table: the build."""
    row = observer.execute(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database() "
        "AND query ILIKE %s",
        [f"%{ModelVersion._meta.db_table}%"],
    ).fetchone()
    return row[0] if row else None


def queued_builds() -> list[str]:
    """The builds waiting in the broker's feeds queue, as their arguments."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    messages = [json.loads(raw) for raw in broker.lrange("feeds", 0, -1)]
    return [m["headers"]["argsrepr"] for m in messages if m["headers"]["task"] == "ranking.tasks.build_feed"]


def forget_builds_asked_for() -> None:
    """Drop the builds the test's setup asked for (its follows did), queued
    and marked, so that the test's own read asks for the one it watches."""
    current_app.control.purge()
    cache.clear()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_build_ranks_again_within_seconds_of_its_restart(active_model, api_for, tmp_path):
    viewer = viewer_with_tweets(api_for)
    forget_builds_asked_for()
    log_path = tmp_path / "worker.log"
    worker = celery_worker_start(log_path)
    try:
        with model_table_locked() as observer:
            assert home(viewer)["ranking"] == "pending"  # a build is asked for...
            wait_for(lambda: backend_held_up(observer))  # ...and under way in the worker
            worker.kill()  # SIGKILL: the whole worker, the build and its unacknowledged message with it
            worker.wait(timeout=15)
        # The lost build's message is left to the broker's visibility timeout
        # (hours); the next read after its short "building" mark expires asks again.
        restarted = time.monotonic()
        worker = celery_worker_start(log_path)
        ranked = wait_for(lambda: (body := home(viewer))["ranking"] == "ranked" and body, timeout_s=60)
        took_s = time.monotonic() - restarted
    finally:
        worker.terminate()
        worker.wait(timeout=15)
    mark_s = settings.FEED_BUILD_MARK_TTL_S
    print(f"Ranked again {took_s:.1f} s after the worker restart (FEED_BUILD_MARK_TTL_S={mark_s})")
    assert ranked["model_version"] == active_model.name
    assert {item["id"] for item in ranked["results"]} == viewer.posted


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_build_that_lost_its_database_connection_is_retried_by_the_worker(active_model, api_for, tmp_path):
    viewer = viewer_with_tweets(api_for)
    forget_builds_asked_for()
    log_path = tmp_path / "worker.log"
    worker = celery_worker_start(log_path)
    try:
        with model_table_locked() as observer:
            assert home(viewer)["ranking"] == "pending"
            build = wait_for(lambda: backend_held_up(observer))
            # As a PostgreSQL restart or failover would: the build's connection goes.
            observer.execute("SELECT pg_terminate_backend(%s)", [build])

        # No read from here on, so nothing asks for another build: only the
        # task's own retry can store the list.
        feed = wait_for(lambda: ranked_feed_get(user_id=viewer.user.pk), timeout_s=30)
    finally:
        worker.terminate()
        worker.wait(timeout=15)
    assert feed.model_version == active_model.name
    assert {item.tweet_id for item in feed.items} == viewer.posted
    log = log_path.read_text()
    assert "ranking.tasks.build_feed" in log and "Retry in" in log and "OperationalError" in log


@pytest.mark.django_db
def test_broker_down_at_a_request_serves_the_latest_feed_leaves_no_mark_and_the_next_read_asks_again(
    active_model, api_for, broker_down, caplog
):
    viewer = viewer_with_tweets(api_for)

    with caplog.at_level(logging.ERROR):
        during = home(viewer)

    assert [item["id"] for item in during["results"]] == sorted(viewer.posted, reverse=True)
    assert during["ranking"] == "off"  # no build is on its way: not "pending"
    assert not building_marked(user_id=viewer.user.pk)
    assert "Could not enqueue ranking.tasks.build_feed" in caplog.text

    broker_down()  # called: the broker is back
    current_app.control.purge()  # builds other tests asked for
    after = home(viewer)

    assert after["ranking"] == "pending"
    assert building_marked(user_id=viewer.user.pk)
    assert queued_builds() == [f"({viewer.user.pk},)"]
    current_app.control.purge()


def saved_model_missing() -> bytes:
    """An artifact whose SavedModel is gone: only its metadata is left."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(METADATA_FILE, json.dumps({"numeric_features": [], "heads": [], "feature_spec_version": 7}))
    return archive.getvalue()


def failed_loads(version: ModelVersion) -> float:
    return REGISTRY.get_sample_value("ranked_feed_model_load_failures_total", {"version": version.name}) or 0


def unloadable_version(artifact: bytes) -> ModelVersion:
    return version_activate(version=register(artifact=artifact, metrics={}, feature_spec_version=FEATURE_SPEC_VERSION))


@pytest.mark.django_db
@pytest.mark.parametrize("artifact", [b"not a zip", saved_model_missing()], ids=["corrupt", "missing"])
def test_an_unloadable_active_model_falls_back_to_the_version_it_replaced(active_model, api_for, artifact, caplog):
    broken = unloadable_version(artifact)
    assert broken.previous == active_model
    viewer = viewer_with_tweets(api_for)
    assert home(viewer)["ranking"] == "pending"

    with caplog.at_level(logging.ERROR):
        build_feed.apply(args=[viewer.user.pk])  # what a feeds worker runs
    body = home(viewer)

    assert body["ranking"] == "ranked"
    assert body["model_version"] == active_model.name
    assert {item["id"] for item in body["results"]} == viewer.posted
    assert f"Ranking model {broken.name} cannot be loaded" in caplog.text
    assert f"The active ranking model {broken.name} cannot be loaded: ranking with {active_model.name}" in caplog.text
    assert failed_loads(broken) >= 1


@pytest.mark.django_db
def test_an_unloadable_model_with_nothing_to_fall_back_to_is_off_not_pending_until_one_loads(
    api_for, model_artifact, caplog, django_capture_on_commit_callbacks
):
    broken = unloadable_version(b"not a zip")
    viewer = viewer_with_tweets(api_for)
    assert home(viewer)["ranking"] == "pending"  # the first read asks for a build

    with caplog.at_level(logging.ERROR):
        assert build_feed.apply(args=[viewer.user.pk]).get() == 0
    reads = [home(viewer), home(viewer)]

    # The worker found nothing to rank with: the latest timeline, said "off".
    assert [body["ranking"] for body in reads] == ["off", "off"]
    assert all({item["id"] for item in body["results"]} == viewer.posted for body in reads)
    assert ranking_unavailable()
    assert f"No ranking model can be loaded (the active one is {broken.name})" in caplog.text
    assert failed_loads(broken) >= 1

    # A version that loads is activated: reads ask for a build again, and it ranks.
    with django_capture_on_commit_callbacks(execute=True):
        good = version_activate(
            version=register(artifact=model_artifact, metrics={}, feature_spec_version=FEATURE_SPEC_VERSION)
        )
    assert home(viewer)["ranking"] == "pending"
    build_feed.apply(args=[viewer.user.pk])
    body = home(viewer)
    assert (body["ranking"], body["model_version"]) == ("ranked", good.name)


def test_the_broker_visibility_timeout_is_above_the_training_time_limit():
    app = current_app._get_current_object()
    assert app.conf.broker_transport_options["visibility_timeout"] > settings.TRAIN_TIME_LIMIT_S
    # A training is stopped at its limit, so it never outlives the visibility timeout.
    assert app.tasks["ranking.tasks.train_ranker_task"].time_limit == settings.TRAIN_TIME_LIMIT_S

    result = run_python(SETUP, DEBUG="1", TRAIN_TIME_LIMIT_S="3600", CELERY_VISIBILITY_TIMEOUT_S="3600")

    assert result.returncode != 0
    assert "CELERY_VISIBILITY_TIMEOUT_S (3600) must exceed TRAIN_TIME_LIMIT_S (3600)" in result.stderr


@pytest.mark.django_db
def test_the_for_you_page_says_ranking_is_unavailable_not_being_prepared(logged_in):
    unloadable_version(b"not a zip")
    author = UserFactory()
    follow(logged_in.user, author)
    posted = tweet(author, "still shown")
    assert "is being prepared" in logged_in.get("/").content.decode()  # the first load asks for a build

    build_feed.apply(args=[logged_in.user.pk])  # which finds no model it can load
    page = logged_in.get("/").content.decode()

    assert "Ranking is unavailable right now" in page
    assert "is being prepared" not in page
    assert f'id="t-{posted.pk}"' in page  # its card, from the latest timeline
