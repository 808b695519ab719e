"""Error responses. Under /api/ every error is JSON, as DRF answers its own
(`{"detail": ...}`), including those Django raises before or outside a DRF
view: an unknown path (404), a body over DATA_UPLOAD_MAX_MEMORY_SIZE (413),
a crash (500). Pages keep the site's HTML error pages.

The database being unreachable is not a bug of ours but an outage that
passes: 503 with Retry-After, so clients and load balancers retry instead
of reporting a server error.
"""

import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults

API_PREFIX = "/api/"
# About how long a PostgreSQL restart or fail-over takes.
DATABASE_RETRY_AFTER_S = 10


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _json(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether `exc` says the database cannot be reached or used right now
    (psycopg's connection errors, a server shutting down), not a bad query."""
    return isinstance(exc, OperationalError | InterfaceError)


def service_unavailable(request: HttpRequest) -> HttpResponse:
    # The page is rendered without the request: its user and session need the database.
    response = (
        _json(503, "The service is briefly unavailable. Please try again shortly.")
        if _is_api(request)
        else HttpResponse(render_to_string("503.html"), status=503)
    )
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    return response


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        if _is_api(request):
            return _json(
                413, f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes: send less."
            )
        return HttpResponse(render_to_string("413.html"), status=413)
    if _is_api(request):
        return _json(400, "Bad request.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json(403, "You do not have permission to perform this action.")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json(404, "Not found.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django calls this while handling the uncaught exception, which is
    therefore still in sys.exc_info()."""
    if database_unavailable(sys.exc_info()[1]):
        return service_unavailable(request)
    if _is_api(request):
        return _json(500, "Server error: it is logged and ours to fix.")
    return defaults.server_error(request)


def request_size_limit(get_response):
    """Refuse a body over DATA_UPLOAD_MAX_MEMORY_SIZE before anything reads
    it. Django checks only form bodies it parses itself; DRF's JSON parser
    reads the stream whatever its size. Raised, Django answers it through
    `bad_request` above: a 413."""

    def middleware(request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            raise RequestDataTooBig(f"Request body of {length} bytes exceeds DATA_UPLOAD_MAX_MEMORY_SIZE.")
        return get_response(request)

    return middleware
