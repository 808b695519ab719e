import re

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config import bench, errors, health, media

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error

api_patterns = [
    path("", include("users.urls")),
    path("", include("feed.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Its script in a file of its own, not inline: the Content-Security-Policy.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api_docs.html"),
        name="api-docs",
    ),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("", include("feed.page_urls")),
    path("", include("users.page_urls")),
    path("", include("ranking.page_urls")),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
]

# Uploaded avatars, when no web server in front serves MEDIA_URL (config.media).
if settings.MEDIA_SERVE and settings.MEDIA_URL.startswith("/"):
    prefix = re.escape(settings.MEDIA_URL.lstrip("/"))
    urlpatterns.append(re_path(rf"^{prefix}(?P<name>{media.MEDIA_NAME_PATTERN})$", media.serve, name="media"))

# The bare view bin/bench-serving compares the feed with: only for the benchmark.
if settings.BENCH_FLOOR_VIEW:
    urlpatterns.append(path("bench/floor", bench.floor, name="bench-floor"))
