"""API plumbing shared by every app: errors, throttling, pagination."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination
from rest_framework.throttling import UserRateThrottle


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


class WriteRateThrottle(UserRateThrottle):
    """Limits writes per user (or per IP when anonymous); reads are not limited."""

    scope = "writes"

    def allow_request(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)


class CreatedAtCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size_query_param = None


class OldestFirstPagination(CursorPagination):
    ordering = ("created_at", "id")
