"""Fixtures of the page tests: the real ASGI server (uvicorn, as the Procfile runs it) on the test database,
and Debian's chromium driven by Playwright for the few browser tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from conftest import ROOT, _database_url_for_workers, _wait_for, answers_ok, free_port

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; a browser download is never used
SERVER_HEARTBEAT_SECONDS = "1"  # so a test sees a heartbeat without waiting 15 s


@pytest.fixture(scope="session")
def collected_static() -> None:
    """The static files as `make up` serves them: WhiteNoise reads collectstatic's output (STATIC_ROOT)."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"], cwd=ROOT, check=True
    )


@dataclass
class AsgiServer:
    """`uvicorn stockhub.asgi:application` in a subprocess; stop() and start() again on the same port."""

    port: int
    log: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            sys.executable, "-m", "uvicorn", "stockhub.asgi:application", "--host", "127.0.0.1",
            "--port", str(self.port), "--lifespan", "off", "--timeout-graceful-shutdown", "1",
        ]  # fmt: skip
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        _wait_for(lambda: answers_ok(f"{self.url}/healthz"), seconds=30, what=f"uvicorn (log: {self.log})")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def asgi_server(clean_broker: str, collected_static: None, tmp_path: Path) -> Iterator[AsgiServer]:
    """The web server on a free port, reading the test database and the test broker and Redis."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_workers(),
        "CELERY_BROKER_URL": clean_broker,
        "REDIS_URL": settings.REDIS_URL,
        "STOCKHUB_SSE_HEARTBEAT_SECONDS": SERVER_HEARTBEAT_SECONDS,
    }
    server = AsgiServer(port=free_port(), log=tmp_path / "uvicorn.log", env=env)
    server.start()
    yield server
    server.stop()  # before the database is flushed: its connections must be gone


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch):
    """Headless Debian chromium through Playwright (pip package only; `playwright install` is never run)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls (setting up rows,
    # starting workers) are still plain synchronous code, so Django's async-safety guard is told so.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield instance
        # Django's connections are context-local, and inside Playwright's context the test's ORM calls opened
        # their own, which pytest-django never sees: closed here, or the test database cannot be dropped.
        connections.close_all()
        instance.close()
