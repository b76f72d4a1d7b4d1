"""Top-level URL map: the pages (web/), admin (its login attempt-limited), the JSON API (each app's api.py),
its OpenAPI schema and interactive docs, JSON error pages under /api/, health and metrics."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from stockhub import health
from stockhub.login_limit import limit_login_attempts

urlpatterns = [
    # before admin/, so every password tried on the admin login page is counted
    path("admin/login/", limit_login_attempts(admin.site.login), name="admin-login"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("ingest.api")),
    path("api/", include("analysis.api")),
    path("api/", include("ingest.api_processing")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("api/", include("notifications.api")),
    path("api/", include("portfolios.api")),
    path("", include("web.urls")),
]

handler404 = "stockhub.api.not_found"
handler500 = "stockhub.api.server_error"
