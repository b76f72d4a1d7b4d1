"""Top-level URL map: admin, the JSON API (each app's api.py) and its OpenAPI schema, health and metrics."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from stockhub import health

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),  # until the dashboard has its page
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include("ingest.api")),
    path("api/", include("analysis.api")),
    path("api/", include("ingest.api_processing")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("api/", include("notifications.api")),
]
