"""URLs of the browser pages and their event stream (mounted at the site root)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from stockhub.login_limit import limit_login_attempts
from web import sse, views

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("login/", limit_login_attempts(views.LoginView.as_view()), name="login"),  # counts failed passwords
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tickers/<str:symbol>/", views.ticker_view, name="ticker"),
    path("pipeline/", views.pipeline_view, name="pipeline"),
    path("queues/", views.queues_view, name="queues"),
    path("events/", sse.events_view, name="events"),
]
