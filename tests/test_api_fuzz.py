"""Schemathesis against the live OpenAPI schema: the real ASGI server (uvicorn) on the test database, a staff
user with an API token and a few tickers with bars and indicators. Every operation is fuzzed (valid and
invalid input); no response may be a 5xx and every documented response must match its schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from analysis.services import analyze_ticker
from analysis.tests.factories import random_walk, store
from conftest import _database_url_for_workers, free_port
from portfolios.services import issue_api_token
from portfolios.tests.factories import make_portfolio, make_user
from web.tests.conftest import AsgiServer, collected_static  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EXAMPLES_PER_OPERATION = 6  # 38 operations, two runs: about 450 cases, well under two minutes
SEED = 20261127  # a fixed seed: a failure here is reproducible with the command in the output
CHECKS = "not_a_server_error,response_schema_conformance"
FUZZ_TIMEOUT_SECONDS = 300  # a stuck run fails the test instead of hanging CI


@pytest.fixture
def fuzz_server(clean_broker: str, collected_static: None, tmp_path: Path):  # noqa: F811
    """The web server as `make up` runs it, but with throttles out of the way: the fuzzer sends hundreds of
    requests a minute from one user, and 429s would hide the responses under test."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_workers(),
        "CELERY_BROKER_URL": clean_broker,
        "REDIS_URL": settings.REDIS_URL,
        "STOCKHUB_API_THROTTLE_USER": "100000/min",
        "STOCKHUB_API_THROTTLE_ANON": "100000/min",
    }
    server = AsgiServer(port=free_port(), log=tmp_path / "uvicorn.log", env=env)
    server.start()
    yield server
    server.stop()  # before the database is flushed: its connections must be gone


def test_fuzzing_every_api_operation_finds_no_server_error_and_no_schema_mismatch(fuzz_server, tmp_path):
    staff = make_user("fuzz", staff=True)
    for seed, symbol in enumerate(("AAPL", "MSFT", "SPY")):
        ticker = store(symbol, random_walk(300, seed=seed, start="2024-01-02"))
        analyze_ticker(ticker_id=ticker.id, timeframe="daily")
    portfolio = make_portfolio(owner=staff, name="Tech", symbols=["AAPL", "MSFT"])
    token = issue_api_token(user=staff).key

    # First anything the schema allows (mostly unknown symbols and ids: 400s and 404s), then valid input on the
    # rows that exist, so the 200 bodies of bars, indicators, patterns and the portfolio are checked too.
    fuzz(fuzz_server, token=token, report=tmp_path / "any", mode="all")
    known = tmp_path / "known.toml"
    known.write_text(
        f'[parameters]\n"path.symbol" = "AAPL"\n"path.portfolio_id" = {portfolio.id}\n'
        f'"path.name" = "analysis"\n'
    )
    fuzz(fuzz_server, token=token, report=tmp_path / "known", mode="positive", config=known)


def fuzz(server: AsgiServer, *, token: str, report: Path, mode: str, config: Path | None = None) -> None:
    """One `st run` over every operation; fails with its output and the server's log on any issue."""
    command = [
        sys.executable, "-m", "schemathesis.cli",
        *(["--config-file", str(config)] if config else []),
        "run", f"{server.url}/api/schema/",
        "--checks", CHECKS,
        "--mode", mode,
        "--max-examples", str(EXAMPLES_PER_OPERATION),
        "--seed", str(SEED),
        "--phases", "examples,fuzzing",
        "--workers", "1",
        "--header", f"Authorization: Token {token}",
        "--request-timeout", "30",
        "--suppress-health-check", "all",
        "--continue-on-failure",
        "--report", "junit", "--report-dir", str(report),
    ]  # fmt: skip
    # run in the report folder: its example database (.schemathesis/) stays out of the checkout
    result = subprocess.run(
        command, cwd=report.parent, capture_output=True, text=True, timeout=FUZZ_TIMEOUT_SECONDS
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{output}\n--- server log (tail) ---\n{server.log.read_text()[-5000:]}"
    assert " passed" in output and "failed" not in output, output
