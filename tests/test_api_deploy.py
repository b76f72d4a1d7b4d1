"""The API as deployed: its OpenAPI schema validates without a warning and lists every endpoint, the
interactive docs load their JS/CSS from our static files, and `check --deploy` is clean in production."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command

from portfolios.tests.factories import make_user

ROOT = Path(__file__).resolve().parent.parent
NEW_PATHS = [
    "/api/portfolios",
    "/api/portfolios/{portfolio_id}",
    "/api/portfolios/{portfolio_id}/holdings",
    "/api/portfolios/{portfolio_id}/holdings/{symbol}",
    "/api/tickers",
    "/api/tickers/{symbol}/refresh",
]
PRODUCTION = {
    "DEBUG": "0",
    "STOCKHUB_REQUIRE_SECRET_KEY": "1",
    "STOCKHUB_HTTPS": "1",
    "ALLOWED_HOSTS": "stockhub.example.com",
}


def test_the_schema_validates_without_warnings_and_lists_the_new_endpoints(tmp_path):
    target = tmp_path / "schema.json"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(target)
    )
    schema = json.loads(target.read_text())
    assert set(NEW_PATHS) <= set(schema["paths"])
    assert set(schema["components"]["securitySchemes"]) == {"cookieAuth", "tokenAuth"}
    holdings = schema["paths"]["/api/portfolios/{portfolio_id}/holdings"]["post"]
    assert holdings["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/HoldingWrite")
    assert set(holdings["responses"]) == {"201", "400", "404"}
    for path in NEW_PATHS:
        for method, operation in schema["paths"][path].items():  # every one documents its success answer
            assert {"200", "201", "202", "204"} & set(operation["responses"]), (path, method)


@pytest.mark.django_db
def test_the_interactive_docs_load_swagger_ui_from_our_static_files(client):
    client.force_login(make_user())
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', page)
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in assets
    assert all(asset.startswith("/static/") for asset in assets), assets
    assert "cdn.jsdelivr" not in page and "unpkg.com" not in page
    for asset in assets:  # each one is a file collectstatic ships (WhiteNoise serves it)
        assert finders.find(asset.removeprefix("/static/")), asset
    assert '"/api/schema/"' in page


def check_deploy(**env: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    return subprocess.run(
        command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_the_production_settings():
    done = check_deploy(**PRODUCTION, SECRET_KEY=secrets.token_urlsafe(50))
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


def test_check_deploy_fails_without_https():
    done = check_deploy(**{**PRODUCTION, "STOCKHUB_HTTPS": "0"}, SECRET_KEY=secrets.token_urlsafe(50))
    assert done.returncode != 0
    assert "SECURE_SSL_REDIRECT" in done.stderr and "SESSION_COOKIE_SECURE" in done.stderr


def test_production_without_a_secret_key_does_not_start():
    done = check_deploy(**PRODUCTION, SECRET_KEY="")
    assert done.returncode != 0 and "SECRET_KEY is not set" in done.stderr
