import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings):
    # Hashing passwords the production way costs ~0.3 s a user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


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
