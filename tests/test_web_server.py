"""The web process as uvicorn runs it (stockhub/asgi.py): synchronous views on its threads get request bodies,
set cookies and stream files whole; the event stream's URL goes to Django's ASGI handler."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.parse
import urllib.request

import pytest
from django.conf import settings

from portfolios.services import issue_api_token
from portfolios.tests.factories import make_user
from stockhub.threaded_handler import is_async_view
from web.tests.conftest import asgi_server, collected_static  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SWAGGER_BUNDLE = "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"  # ~1.5 MB


def test_only_the_event_stream_is_an_async_view():
    assert is_async_view("/events/")
    assert not any(
        is_async_view(path) for path in ("/", "/login/", "/api/bars/AAPL", "/api/nowhere", "/healthz")
    )


def test_a_static_file_streams_whole_from_a_web_thread(asgi_server):  # noqa: F811
    with urllib.request.urlopen(f"{asgi_server.url}/static/{SWAGGER_BUNDLE}", timeout=30) as response:
        assert response.status == 200
        assert response.read() == (settings.STATIC_ROOT / SWAGGER_BUNDLE).read_bytes()


def test_a_json_body_reaches_the_view_and_its_answer_comes_back(asgi_server):  # noqa: F811
    token = issue_api_token(user=make_user("ann")).key
    request = urllib.request.Request(
        f"{asgi_server.url}/api/portfolios",
        data=json.dumps({"name": "Tech " + "x" * 80}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        assert json.load(response)["name"] == "Tech " + "x" * 80


def test_logging_in_through_the_form_sets_and_reads_cookies(asgi_server):  # noqa: F811
    make_user("bob")
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{asgi_server.url}/login/", timeout=30).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"username": "bob", "password": "pw-for-tests-only", "csrfmiddlewaretoken": csrf}
    )
    request = urllib.request.Request(
        f"{asgi_server.url}/login/", data=form.encode(), headers={"Referer": asgi_server.url}
    )
    with opener.open(request, timeout=30) as response:
        assert response.status == 200 and response.url == f"{asgi_server.url}/"  # redirected to the dashboard
    assert {cookie.name for cookie in jar} >= {"csrftoken", "sessionid"}
