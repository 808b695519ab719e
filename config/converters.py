"""Path converters: a path value that cannot be what it names is a 404 from
the URL resolver, before any query (PostgreSQL text cannot even hold a NUL
byte, which `<str:...>` would pass on)."""

from django.urls import register_converter

# What Django's username validator accepts (UnicodeUsernameValidator), at
# most as long as the column.
USERNAME_PATTERN = r"[\w.@+-]{1,150}"


class UsernameConverter:
    regex = USERNAME_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(UsernameConverter, "username")
