"""The limits on guessing passwords and on making accounts, on the shared
counter (config.ratelimit), per client IP and per username.

Both are checked before any password is hashed (about 0.3 s of CPU each), so
a refused attempt costs the server next to nothing.
"""

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from config.ratelimit import Rate, client_ip, enforce, give_back, username_ident

LOGIN_FAILURES = "login-failures"


class ThrottledModelBackend(ModelBackend):
    """Django's ModelBackend behind the log-in limits, for every caller of
    `authenticate`: the log-in page, the admin's, the token API. Raises
    config.ratelimit.RateLimited, which the API answers with a 429 and the
    pages with a message.

    - Every attempt counts against its client IP (LOGIN_IP_RATE).
    - Failed attempts count against the username (LOGIN_FAILURE_RATE): past
      it, the username is locked out, the right password included, until
      the window slides on. Each attempt reserves a failure before the
      password is checked, and a success gives it back: parallel guesses
      cannot all pass the check before the first failure is counted.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is not None:
            enforce(
                "login-ip",
                client_ip(request),
                Rate.parse(settings.LOGIN_IP_RATE),
                message="Too many log-in attempts from your network.",
            )
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        ident, rate, now = username_ident(username), Rate.parse(settings.LOGIN_FAILURE_RATE), time.time()
        enforce(LOGIN_FAILURES, ident, rate, now=now, message="Too many failed log-ins for this username.")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            give_back(LOGIN_FAILURES, ident, rate, now=now)
        return user


def signup_check(*, request, username: str) -> None:
    """Count a sign-up attempt against the client IP (SIGNUP_IP_RATE) and the
    username asked for (SIGNUP_USERNAME_RATE); raises RateLimited past either."""
    enforce(
        "signup-ip",
        client_ip(request),
        Rate.parse(settings.SIGNUP_IP_RATE),
        message="Too many sign-ups from your network.",
    )
    enforce(
        "signup-username",
        username_ident(username),
        Rate.parse(settings.SIGNUP_USERNAME_RATE),
        message="Too many sign-up attempts for this username.",
    )
