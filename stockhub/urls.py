"""Top-level URL map: the pages (web/), admin, the JSON API (each app's api.py) and its OpenAPI schema, health
and metrics."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from stockhub import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include("ingest.api")),
    path("api/", include("analysis.api")),
    path("api/", include("ingest.api_processing")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("", include("web.urls")),
]
