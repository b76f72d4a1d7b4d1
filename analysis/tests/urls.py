"""A URL map with only the analysis API under /api/, for tests run before stockhub/urls.py includes it."""

from django.urls import include, path

urlpatterns = [path("api/", include("analysis.api"))]
