"""No input is a 500, and every API error is JSON (issue 12): paths,
bodies, crashes and a database outage, through the real handlers."""

import socket

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from feed.models import Tweet
from tests.factories import UserFactory, tweet

pytestmark = pytest.mark.django_db

THREE_MB = 3 * 1024 * 1024


@pytest.fixture
def client_500():
    """Django's test client answering what a server would, not re-raising."""
    return Client(raise_request_exception=False)


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def assert_site_page(response, status: int, heading: str) -> None:
    """An HTML error page that looks like the site: its stylesheet, a way home."""
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert heading in page
    assert "/static/css/site.css" in page
    assert "Back to the home page" in page


@pytest.mark.parametrize("path", ["/api/users/%00/", "/api/users/a%00b/tweets/", "/api/users/a%00b/follow/"])
def test_a_nul_byte_in_an_api_username_is_a_json_404(client_500, path):
    UserFactory(username="ab")

    assert_json_error(client_500.get(path), 404)
    assert_json_error(client_500.post(path), 404)


@pytest.mark.parametrize("path", ["/u/a%00b/", "/u/%00/followers/", "/u/a%00/following/"])
def test_a_nul_byte_in_a_profile_path_is_a_404_page(client_500, path):
    client_500.force_login(UserFactory())

    assert_site_page(client_500.get(path), 404, "Page not found")


@pytest.mark.parametrize(
    "path", ["/api/tweets/abc/", "/api/tweets/1.5/like/", "/api/tweets/-1/", "/api/nowhere/", "/api/tweets/1e3/"]
)
def test_a_path_that_names_nothing_under_the_api_is_a_json_404(client_500, path):
    tweet(text="one")

    assert_json_error(client_500.get(path), 404)


def test_an_id_past_bigint_is_a_404(client_500):
    assert_json_error(client_500.get(f"/api/tweets/{2**64}/"), 404)
    client_500.force_login(UserFactory())
    assert_site_page(client_500.get(f"/t/{2**64}/"), 404, "Page not found")


def test_a_page_that_does_not_exist_is_the_sites_404_page(client_500):
    assert_site_page(client_500.get("/no/such/page/"), 404, "Page not found")


def test_a_body_over_the_upload_limit_is_a_json_413_under_the_api(client_500):
    user = UserFactory()
    client_500.force_login(user)
    body = '{"text": "' + "x" * THREE_MB + '"}'

    response = client_500.post("/api/tweets/", body, content_type="application/json")

    assert_json_error(response, 413)
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in response.json()["detail"]
    assert not Tweet.objects.exists()


def test_a_form_over_the_upload_limit_is_a_413_page(client_500):
    client_500.force_login(UserFactory())

    response = client_500.post("/compose/", {"text": "x" * THREE_MB})

    assert_site_page(response, 413, "too much at once")
    assert not Tweet.objects.exists()


@pytest.mark.urls("tests.config.crash_urls")
def test_a_crash_under_the_api_is_a_json_500(client_500):
    body = assert_json_error(client_500.get("/api/crash/"), 500)

    assert "a bug" not in body["detail"]  # nothing of the exception leaks


@pytest.mark.urls("tests.config.crash_urls")
def test_a_crash_on_a_page_is_the_sites_500_page(client_500):
    assert_site_page(client_500.get("/crash/"), 500, "Something went wrong")


# --- PostgreSQL down ------------------------------------------------------


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def database_down(transactional_db):
    """The request's database connection goes to a PostgreSQL that is not
    there (a closed port on this machine): psycopg's real connection error,
    as when the server is stopped. Restored after the test."""
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(closed_port())
    yield
    connection.close()
    connection.settings_dict["PORT"] = port


def test_database_down_is_a_json_503_with_retry_after_under_the_api(database_down, client_500):
    response = client_500.get("/api/tweets/1/")

    assert_json_error(response, 503)
    assert int(response["Retry-After"]) > 0


def test_database_down_is_a_503_page_with_retry_after(transactional_db, client_500):
    client_500.force_login(UserFactory())  # a session the request must read from the database
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(closed_port())
    try:
        response = client_500.get("/following/")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port

    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert "Back in a moment" in response.content.decode()
    assert "/static/css/site.css" in response.content.decode()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/tweets/{tweet}/report/", '{"reason": "\\ud800"}'),
        ("/api/engagements/", '{"events": [{"tweet": {tweet}, "kind": "\\udfff"}]}'),
        ("/api/tweets/", '{"text": "hi \\ud83d"}'),
    ],
    ids=["report reason", "event kind", "tweet text"],
)
def test_an_unpaired_surrogate_in_json_is_a_400(client_500, path, body):
    """Valid JSON, but no UTF-8 text holds it: an error message echoing it
    could not even be sent."""
    posted = tweet(text="one")
    client_500.force_login(UserFactory())

    response = client_500.post(
        path.format(tweet=posted.pk), body.replace("{tweet}", str(posted.pk)), content_type="application/json"
    )

    assert_json_error(response, 400)
    assert "unpaired surrogate" in response.json()["detail"]
