"""make bench-serving's bare view: mounted only when BENCH_FLOOR_VIEW is set."""

import importlib

import pytest
from django.urls import clear_url_caches

import config.urls

pytestmark = pytest.mark.django_db


@pytest.fixture
def urls_with(settings):
    """Rebuild the URLconf under a setting, and put the normal one back after."""

    def rebuild(**overrides):
        for name, value in overrides.items():
            setattr(settings, name, value)
        importlib.reload(config.urls)
        clear_url_caches()

    yield rebuild
    settings.BENCH_FLOOR_VIEW = False
    importlib.reload(config.urls)
    clear_url_caches()


def test_the_bare_view_does_not_exist_in_a_normal_run(client):
    assert client.get("/bench/floor").status_code == 404


def test_the_bare_view_exists_only_with_bench_floor_view(client, urls_with):
    urls_with(BENCH_FLOOR_VIEW=True)
    response = client.get("/bench/floor")
    assert response.status_code == 200
    assert response.json() == {"ok": True}

    urls_with(BENCH_FLOOR_VIEW=False)
    assert client.get("/bench/floor").status_code == 404
