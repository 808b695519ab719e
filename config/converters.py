"""Path converters: a path value that cannot be what it names is a 404 from
the URL resolver, before any query (PostgreSQL text cannot even hold a NUL
byte, which `<str:...>` would pass on)."""

from django.urls import register_converter

# What a username may be (users.models.User.username): ASCII letters, digits
# and underscore, 1 to 30 of them, as on Twitter and Mastodon. Here, in
# config's plumbing, so that the converter, the OpenAPI schema and the
# model's validator share one pattern.
USERNAME_MAX_CHARS = 30
USERNAME_PATTERN = rf"[A-Za-z0-9_]{{1,{USERNAME_MAX_CHARS}}}"


class UsernameConverter:
    regex = USERNAME_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(UsernameConverter, "username")
