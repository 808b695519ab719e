"""API plumbing shared by every app: errors, throttling, pagination, integer ids."""

import json

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from config import ratelimit

BIGINT_MAX = 2**63 - 1


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, refusing an unpaired surrogate (`"\\ud800"`): valid
    JSON, but no UTF-8 text can hold one, so PostgreSQL could not store it
    and the error message that echoes it could not be sent (a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        try:
            json.dumps(data, ensure_ascii=False).encode()
        except UnicodeEncodeError as exc:
            raise exceptions.ParseError("JSON parse error - the text holds an unpaired surrogate.") from exc
        return data


def exception_handler(exc, context):
    """Services raise Django's ValidationError and PermissionDenied; the API
    answers them as DRF does its own: a 400 with field errors, or a 403."""
    # Imported here: rest_framework.views resolves DEFAULT_THROTTLE_CLASSES,
    # which names this module, at import time.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": " ".join(exc.messages)}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    return drf_exception_handler(exc, context)


class WriteRateThrottle(BaseThrottle):
    """The write limit (WRITE_RATE per user, or per client IP when anonymous),
    on the atomic counter the pages share (config.ratelimit.write_wait), so
    parallel requests cannot overrun it and a page write counts as an API
    write does. Reads are not limited. A refusal is DRF's 429 with `Retry-After`."""

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        self.wait_s = ratelimit.write_wait(request)
        return self.wait_s is None

    def wait(self):
        return self.wait_s


class CreatedAtCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size_query_param = None


class OldestFirstPagination(CursorPagination):
    ordering = ("created_at", "id")


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": BIGINT_MAX})
class IntegerPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A related object named by its integer id. DRF's own field hands the
    value to the ORM, which reads 1.5, "1.5" or true as id 1: these are
    refused here."""

    default_error_messages = {"incorrect_type": "Expected an integer id, got {data_type}."}

    def to_internal_value(self, data):
        is_int = isinstance(data, int) and not isinstance(data, bool)
        if not (is_int or (isinstance(data, str) and data.isascii() and data.isdigit())):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)
