"""The media storage's files (uploaded avatars), served by Django itself when
MEDIA_SERVE is on: `make run` and a lone gunicorn have no web server in
front. Only names the avatar service writes route here (config.urls), so no
path from a request reaches the storage but those; each name is new per
upload, so a browser may keep a file for good."""

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_safe

# What users.avatars names a stored avatar: avatars/<user id>/<uuid hex>.jpg
MEDIA_NAME_PATTERN = r"avatars/[0-9]{1,19}/[0-9a-f]{32}\.jpg"
CACHE_FOR_S = 365 * 24 * 3600


@require_safe
def serve(request: HttpRequest, name: str) -> FileResponse:
    if not default_storage.exists(name):
        raise Http404("No such file.")
    response = FileResponse(default_storage.open(name), content_type="image/jpeg")
    response["Cache-Control"] = f"public, max-age={CACHE_FOR_S}, immutable"
    return response
