"""The browser pages. Thin: each reads one selector and renders a template.

Every page also renders its live parts alone with `?part=NAME` (the template web/_NAME.html and the same
context): after its event stream reconnects, or when an event says something ended, the page reloads just
that part instead of rebuilding the HTML in JavaScript.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from ingest.models import Ticker, normalize_symbol
from web import selectors


def staff_required(view):
    """Signed out: to the login page (302). Signed in without staff rights: 403."""

    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("staff only")
        return view(request, *args, **kwargs)

    return wrapped


def _render(request: HttpRequest, template: str, parts: tuple[str, ...], context: dict) -> HttpResponse:
    part = request.GET.get("part")
    if part is None:
        return render(request, f"web/{template}.html", context)
    if part not in parts:
        raise Http404(f"no part {part!r}; parts: {', '.join(parts)}")
    return render(request, f"web/_{part}.html", context)


@login_required
def dashboard_view(request: HttpRequest) -> HttpResponse:
    page = selectors.dashboard(user=request.user, now=timezone.now())
    return _render(request, "dashboard", ("holdings", "jobs", "ticker_entries"), {"page": page})


@login_required
def ticker_view(request: HttpRequest, symbol: str) -> HttpResponse:
    ticker = get_object_or_404(Ticker, symbol=normalize_symbol(symbol))
    return render(
        request, "web/ticker.html", {"chart": selectors.chart(symbol=ticker.symbol), "ticker": ticker}
    )


@staff_required
def pipeline_view(request: HttpRequest) -> HttpResponse:
    page = selectors.pipeline(user=request.user, now=timezone.now())
    return _render(request, "pipeline", ("current_run", "history", "market"), {"page": page})


@staff_required
def queues_view(request: HttpRequest) -> HttpResponse:
    return _render(request, "queues", ("queue_stats",), {"page": selectors.queues()})


class LoginView(auth_views.LoginView):
    """Django's login (it sends user_logged_in, which queues the foreground refresh of stale holdings)."""

    template_name = "web/login.html"
    redirect_authenticated_user = True
