import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)

SETUP = "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; import django; django.setup()"


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter with only `env` (and PATH) set."""
    return subprocess.run(  # nosec B603: fixed interpreter, code from this file
        [sys.executable, "-c", code],
        env={"PATH": os.environ.get("PATH", ""), **env},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_refuses_to_start_with_debug_off_and_the_development_secret():
    result = run_python(SETUP)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Refusing to start with DEBUG off and the development SECRET_KEY" in result.stderr


def test_starts_with_debug_off_and_a_real_secret():
    # Also imports the API plumbing first, as a worker would: it must not
    # depend on another module having loaded DRF's views before it.
    result = run_python(f"{SETUP}; import config.api", SECRET_KEY="a-real-secret-from-the-environment")

    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/users/{username}/tweets/", "/api/tweets/{tweet_id}/replies/"])
def test_openapi_schema_describes_tweet_lists(client, path):
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    ok = response.json()["paths"][path]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/PaginatedTweetList"


@pytest.mark.django_db
def test_openapi_schema_declares_what_a_feed_item_carries(client):
    schemas = client.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]

    feed = schemas["Feed"]["properties"]["results"]
    assert feed["items"]["$ref"] == "#/components/schemas/FeedItem"
    item = schemas["FeedItem"]["properties"]
    assert item["position"]["type"] == "integer"
    assert item["score"] == {**item["score"], "type": "number", "nullable": True}
    assert item["reasons"]["items"]["type"] == "string"
    assert {"id", "author", "text", "retweet_of"} <= set(item)


@pytest.mark.django_db
def test_api_docs_and_home_page_load(client):
    assert client.get("/api/docs/").status_code == 200
    assert b"Ranked Feed" in client.get("/").content
