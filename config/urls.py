from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health

api_patterns = [
    path("", include("users.urls")),
    path("", include("feed.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
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
