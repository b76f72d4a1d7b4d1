"""Fixtures shared by every test folder: the real broker, real worker processes, shared data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import kombu.pools
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent
SHARED_DATA = ROOT.parent / "shared" / "data"
TEST_REDIS_SOCKET = ROOT / "var" / "test-redis.sock"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the checkout; tests that need it skip cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real market data not found at {SHARED_DATA}")
    return SHARED_DATA


def _use_broker(url: str) -> None:
    from celery_app import app

    settings.CELERY_BROKER_URL = url
    app.conf.broker_url = url
    os.environ["CELERY_BROKER_URL"] = url  # Celery reads this variable before its own setting
    # Connections and producers to the old URL must not be reused. kombu keeps its pools in a registry keyed
    # by URL, so they are closed *and* forgotten there, or the next lookup returns a closed pool.
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def switch_broker(broker_url: str) -> Iterator[Callable[[str], None]]:
    """Point the publishing side at another broker URL (e.g. one nobody listens on); restored afterwards."""
    yield _use_broker
    _use_broker(broker_url)


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    """The broker the tests use: CELERY_BROKER_URL when set (CI: the machine's Redis, then RabbitMQ for the
    `queues` selection), else an embedded Redis on a test socket, so a running `make up` is never touched.
    Events, locks and rate limits need a Redis whatever the broker: without REDIS_URL they use the embedded
    test Redis too (database 1)."""
    configured = os.environ.get("CELERY_BROKER_URL")
    server = None
    if not configured or not os.environ.get("REDIS_URL"):
        TEST_REDIS_SOCKET.parent.mkdir(exist_ok=True)
        env = {**os.environ, "STOCKHUB_EMBEDDED_REDIS_SOCKET": str(TEST_REDIS_SOCKET)}
        server = subprocess.Popen(
            [sys.executable, "-m", "stockhub.embedded_redis", "--no-save", "--stop-grace-seconds", "0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(lambda: TEST_REDIS_SOCKET.exists(), seconds=15, what="the embedded test Redis")
    if not os.environ.get("REDIS_URL"):
        settings.REDIS_URL = f"unix://{TEST_REDIS_SOCKET}?db=1"
    url = configured or f"redis+socket://{TEST_REDIS_SOCKET}?virtual_host=0"
    _use_broker(url)
    yield url
    if server is not None:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(autouse=True)
def empty_answer_cache() -> None:
    """Each test starts with no cached API answers: a rolled-back test can leave ids and data versions (SQLite
    reuses them) that the next test's different rows would otherwise be answered from."""
    from stockhub.answer_cache import answers

    answers.clear()


@pytest.fixture
def clean_broker(broker_url: str) -> str:
    """Broker queues emptied of anything an earlier test left behind."""
    from celery_app import app
    from stockhub.queues import TASK_QUEUES

    with app.connection_for_write() as connection:
        for queue in TASK_QUEUES:  # declared as the workers declare them, then emptied
            bound = queue.bind(connection.default_channel)
            bound.declare()
            bound.purge()
    return broker_url


def _database_url_for_workers() -> str:
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    port = db.get("PORT") or 5432
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{port}/{db['NAME']}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now, for a server a test or benchmark starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers_ok(url: str) -> bool:
    """True when `url` answers 200 within a second (a server started by a test is up)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _wait_for(condition: Callable[[], bool], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {seconds}s")


class Workers:
    """Real `celery worker -Q <queue>` processes, started the way production starts them."""

    def __init__(self, broker: str, tmp_path: Path) -> None:
        self.broker = broker
        self.tmp_path = tmp_path
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs: list[Path] = []

    def start(
        self, queue: str, *, concurrency: int = 1, env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        from celery_app import app

        name = f"{queue}-{os.getpid()}-{len(self.processes)}@test"
        log = open(self.tmp_path / f"{name}.log", "w")  # noqa: SIM115  (closed with the process)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "celery_app",
                "worker",
                "-Q",
                queue,
                "-n",
                name,
                "--concurrency",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "-l",
                "info",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={
                **os.environ,
                "DATABASE_URL": _database_url_for_workers(),
                "CELERY_BROKER_URL": self.broker,
                "REDIS_URL": settings.REDIS_URL,
                "LOG_LEVEL": "INFO",
                **(env or {}),
            },
        )
        self.processes[name] = process
        self.logs.append(Path(log.name))
        _wait_for(
            lambda: bool(app.control.ping(destination=[name], timeout=0.5)),
            seconds=30,
            what=f"worker {name} (log: {log.name})",
        )
        return process

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def log_tails(self, lines: int = 40) -> str:
        tails = []
        for path in self.logs:
            text = path.read_text(errors="replace").splitlines()[-lines:]
            tails.append(f"--- {path.name} (last {len(text)} lines) ---\n" + "\n".join(text))
        return "\n".join(tails)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Remembered per phase so a fixture can tell whether its test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def workers(clean_broker: str, tmp_path: Path, request) -> Iterator[Workers]:
    """Start real workers with `workers.start("foreground")`; all are stopped after the test."""
    pool = Workers(clean_broker, tmp_path)
    yield pool
    pool.stop_all()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        # A worker's own log is what explains a timed-out wait; CI shows only pytest's output,
        # and the failure summary (printed at the end) includes the report's sections.
        report.sections.append(("worker logs", pool.log_tails()))
