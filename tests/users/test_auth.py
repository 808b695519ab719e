"""The limits on log-in, token and sign-up (users.auth), through the pages
(Django's test client) and the API. The audit: 80 wrong passwords in a row,
no 429 and no lock-out; nothing throttled sign-up."""

import pytest
from django.test import Client

from tests.factories import PASSWORD, SuperUserFactory, UserFactory
from users.models import User

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "blue-lantern-harbor-42"
HIGH = "100000/hour"


def body(response) -> str:
    return response.content.decode()


def test_eighty_wrong_passwords_on_the_log_in_page_are_refused_after_the_tenth(client):
    """With the default limits: ten failures, then the username is locked out,
    and the page says why."""
    victim = UserFactory()

    answers = [client.post("/login/", {"username": victim.username, "password": f"guess-{n}"}) for n in range(80)]

    codes = [answer.status_code for answer in answers]
    assert codes == [200] * 10 + [429] * 70
    locked = answers[10]
    assert "Too many failed log-ins for this username. Try again in" in body(locked)
    assert 0 < int(locked["Retry-After"]) <= 15 * 60
    assert 'name="password"' in body(locked)  # the form is still there
    # The right password is refused too while locked out; the session stays anonymous.
    right = client.post("/login/", {"username": victim.username, "password": PASSWORD})
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_failed_log_in_is_counted_and_a_successful_one_is_not(client, settings):
    settings.LOGIN_FAILURE_RATE = "3/hour"
    member = UserFactory()

    for _ in range(5):  # successes give their reservation back
        assert Client().post("/login/", {"username": member.username, "password": PASSWORD}).status_code == 302
    for _ in range(3):
        assert client.post("/login/", {"username": member.username, "password": "wrong"}).status_code == 200

    assert client.post("/login/", {"username": member.username, "password": PASSWORD}).status_code == 429


def test_the_token_api_answers_a_locked_username_with_429_json_and_retry_after(api, settings):
    settings.LOGIN_FAILURE_RATE = "2/hour"
    member = UserFactory()

    wrong = {"username": member.username, "password": "wrong"}
    codes = [api.post("/api/auth/token/", wrong).status_code for _ in range(3)]
    refused = api.post("/api/auth/token/", {"username": member.username, "password": PASSWORD})

    assert codes == [400, 400, 429]
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert refused.json()["detail"].startswith("Too many failed log-ins for this username.")


def test_log_in_attempts_are_limited_per_client_ip_across_usernames(api, client, settings):
    """Guessing one password for many usernames (credential stuffing) meets
    the per-IP limit, shared by the page and the API."""
    settings.LOGIN_IP_RATE = "4/hour"
    users = UserFactory.create_batch(6)

    api_codes = [api.post("/api/auth/token/", {"username": u.username, "password": "x"}).status_code for u in users[:3]]
    page = client.post("/login/", {"username": users[3].username, "password": "x"})
    refused = client.post("/login/", {"username": users[4].username, "password": PASSWORD})

    assert api_codes == [400, 400, 400]
    assert page.status_code == 200
    assert refused.status_code == 429
    assert "Too many log-in attempts from your network." in body(refused)
    assert api.post("/api/auth/token/", {"username": users[5].username, "password": PASSWORD}).status_code == 429


def test_the_admin_log_in_is_limited_too(client, settings):
    settings.LOGIN_FAILURE_RATE = "1/hour"
    admin = SuperUserFactory()
    url = "/admin/login/?next=/admin/"

    assert client.post(url, {"username": admin.username, "password": "wrong"}).status_code == 200
    refused = client.post(url, {"username": admin.username, "password": PASSWORD})

    assert refused.status_code == 429
    assert "Too many failed log-ins for this username." in body(refused)
    assert int(refused["Retry-After"]) > 0


def test_sign_up_is_limited_per_client_ip_on_the_api_and_the_page(api, client, settings):
    settings.SIGNUP_IP_RATE = "3/hour"

    codes = [
        api.post("/api/auth/register/", {"username": f"new{n}", "password": STRONG_PASSWORD}).status_code
        for n in range(2)
    ]
    page = client.post("/signup/", {"username": "new2", "password": STRONG_PASSWORD})
    refused_page = Client().post("/signup/", {"username": "new3", "password": STRONG_PASSWORD})
    refused_api = api.post("/api/auth/register/", {"username": "new4", "password": STRONG_PASSWORD})

    assert (codes, page.status_code) == ([201, 201], 302)
    assert refused_page.status_code == 429
    assert "Too many sign-ups from your network. Try again in" in body(refused_page)
    assert 'value="new3"' in body(refused_page)  # what was typed is kept
    assert refused_api.status_code == 429
    assert int(refused_api["Retry-After"]) > 0
    assert set(User.objects.values_list("username", flat=True)) == {"new0", "new1", "new2"}


def test_sign_up_attempts_are_limited_per_username_whatever_the_address(api, settings):
    """Behind one trusted proxy each client has its own address; the attempts
    on one username still add up."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.SIGNUP_USERNAME_RATE = "2/hour"
    settings.SIGNUP_IP_RATE = "1/hour"

    def register(n):
        body = {"username": "wanted", "password": "short"}  # refused by the password rules
        return api.post("/api/auth/register/", body, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    assert [register(n).status_code for n in range(3)] == [400, 400, 429]


def test_the_write_limit_counts_anonymous_writers_per_client_ip(api, settings):
    settings.WRITE_RATE = "2/hour"
    settings.SIGNUP_IP_RATE = HIGH

    codes = [
        api.post("/api/auth/register/", {"username": f"anon{n}", "password": STRONG_PASSWORD}).status_code
        for n in range(3)
    ]

    assert codes == [201, 201, 429]
