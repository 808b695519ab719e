"""The OpenAPI schema's error responses (DEFAULT_SCHEMA_CLASS). Apart from
config.api: drf-spectacular's AutoSchema imports DRF's views, which import
config.api (the throttle class) as they load."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse

ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/Error"}
# The `Error` component, added to the schema by SPECTACULAR_SETTINGS.
ERROR_COMPONENT = {
    "type": "object",
    "description": "An error. `detail` says what went wrong; a validation error (400) names instead each "
    "field it refuses, with its messages (a list of events, by index).",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {},
}


def error_response(description: str) -> OpenApiResponse:
    """An error an operation answers beyond the ones ErrorDocumentingAutoSchema
    infers, for `@extend_schema(responses={...})`."""
    return OpenApiResponse(response=ERROR_SCHEMA_REF, description=description)


RETRY_AFTER_HEADER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ErrorDocumentingAutoSchema(AutoSchema):
    """drf-spectacular's schema plus the errors each operation can answer,
    all JSON (`Error`): 400 for a body or query it refuses, 401 for a wrong
    or missing token, 403 for a write it does not allow (CSRF, ownership),
    404 for a path naming nothing (or a list's stale cursor), 413 for a body
    too large, 429 for writes over the rate limit, and 503 when the
    database is unreachable; and 414 (from gunicorn, not JSON) for a query
    string too long."""

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        self.registry.register_on_missing(
            ResolvedComponent(name="Error", type=ResolvedComponent.SCHEMA, object="Error", schema=ERROR_COMPONENT)
        )
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        has_path_params = any(p["in"] == "path" for p in operation.get("parameters", []))
        codes = {"401": "Not authenticated, or an invalid token.", "503": "The database is unreachable: retry."}
        if "requestBody" in operation or query - {"cursor"}:
            codes["400"] = "Invalid input: nothing was written."
        if "requestBody" in operation:
            codes["413"] = "The body is larger than the server accepts."
        if self.method in UNSAFE_METHODS:
            codes["403"] = "Not allowed."
            codes["429"] = "Too many requests: retry after `Retry-After` seconds."
        # A path naming nothing, or a stale cursor of DRF's pagination (the
        # feed's own cursor is a 400).
        if has_path_params or ("cursor" in query and getattr(self.view, "pagination_class", None)):
            codes["404"] = "Not found."
        responses = operation["responses"]
        if query:
            # From gunicorn, before Django: a request line over 4 KB (long query values).
            responses.setdefault("414", {"description": "The URL is too long."})
        for code, description in codes.items():
            response = {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA_REF}}}
            if code in {"429", "503"}:
                response["headers"] = RETRY_AFTER_HEADER
            responses.setdefault(code, response)
        return operation
