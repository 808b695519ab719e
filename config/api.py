"""API plumbing shared by every app: errors, throttling, pagination."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from config import ratelimit


def exception_handler(exc, context):
    """Services raise Django's ValidationError and PermissionDenied; the API
    answers them as DRF does its own: a 400 with field errors, or a 403."""
    # Imported here: rest_framework.views resolves DEFAULT_THROTTLE_CLASSES,
    # which names this module, at import time.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
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
