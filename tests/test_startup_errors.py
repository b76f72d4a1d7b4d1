"""A wrong setting or an unreachable server stops start-up with one line naming what to fix, not a traceback;
and the embedded Redis carries real Celery work over its unix socket."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE_POSTGRES = "postgres://postgres@127.0.0.1:5999/x"
UNREACHABLE_REDIS = "redis://127.0.0.1:6399/0"
# Settings the tests decide for themselves; whatever the calling shell set for them is dropped.
OWN_VARIABLES = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "STOCKHUB_PROVIDER", "FLOWER_BASIC_AUTH")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short directory: a unix socket path must stay under 108 bytes, and pytest's tmp_path may not."""
    path = Path(tempfile.mkdtemp(prefix="sh-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def base_env(short_dir: Path) -> dict[str, str]:
    """A clean environment: a throw-away SQLite database, and an embedded Redis socket nobody else uses."""
    env = {key: value for key, value in os.environ.items() if key not in OWN_VARIABLES}
    env["DATABASE_URL"] = f"sqlite:///{short_dir / 'db.sqlite3'}"
    env["STOCKHUB_EMBEDDED_REDIS_SOCKET"] = str(short_dir / "redis.sock")
    return env


@pytest.fixture
def embedded_redis(base_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """`python -m stockhub.embedded_redis` on the test's own socket; yields the environment that uses it."""
    server = subprocess.Popen(
        [sys.executable, "-m", "stockhub.embedded_redis", "--no-save", "--stop-grace-seconds", "0"],
        cwd=ROOT,
        env=base_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_socket(Path(base_env["STOCKHUB_EMBEDDED_REDIS_SOCKET"]), server)
        yield base_env
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for_socket(socket_path: Path, server: subprocess.Popen, seconds: float = 15) -> None:
    import redis

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the embedded Redis exited with {server.returncode}"
        try:
            if socket_path.exists() and redis.Redis(unix_socket_path=str(socket_path)).ping():
                return
        except redis.ConnectionError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"the embedded Redis did not answer on {socket_path} within {seconds}s")


def run(args: list[str], env: dict[str, str], **overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**env, **overrides},
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_naming(result: subprocess.CompletedProcess, variable: str) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.returncode == 2, result.stderr
    assert lines[0].startswith("stockhub: ") and variable in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        (["manage.py", "check"], "DATABASE_URL", "foo://x"),
        (["manage.py", "check"], "STOCKHUB_PROVIDER", "nope"),
        (["manage.py", "check"], "CELERY_BROKER_URL", "ftp://x"),
        (["manage.py", "check"], "STOCKHUB_LOG_FORMAT", "xml"),
        (["-m", "stockhub.preflight"], "DATABASE_URL", "foo://x"),
        (["-m", "stockhub.preflight"], "STOCKHUB_PROVIDER", "nope"),
        (["-m", "stockhub.preflight"], "FLOWER_BASIC_AUTH", "admin-without-password"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else value,
)
def test_a_wrong_setting_stops_start_up_with_one_line_naming_it(command, variable, value, base_env):
    assert_one_line_naming(run(command, base_env, **{variable: value}), variable)


def test_an_unreachable_postgresql_is_named_with_its_url(base_env):
    result = run(["-m", "stockhub.preflight"], base_env, DATABASE_URL=UNREACHABLE_POSTGRES)
    line = assert_one_line_naming(result, "DATABASE_URL")
    assert UNREACHABLE_POSTGRES in line and "Connection refused" in line


@pytest.mark.parametrize("command", [["manage.py", "migrate"], ["manage.py", "showmigrations"]], ids=" ".join)
def test_a_management_command_on_an_unreachable_database_says_so_in_one_line(command, base_env):
    line = assert_one_line_naming(run(command, base_env, DATABASE_URL=UNREACHABLE_POSTGRES), "DATABASE_URL")
    assert "start PostgreSQL or fix the URL" in line


def test_an_unreachable_broker_is_named_with_its_url(base_env):
    result = run(["-m", "stockhub.preflight"], base_env, CELERY_BROKER_URL=UNREACHABLE_REDIS)
    line = assert_one_line_naming(result, "CELERY_BROKER_URL")
    assert UNREACHABLE_REDIS in line and "Connection refused" in line


def test_an_unreachable_redis_url_is_named_once_the_broker_answers(embedded_redis):
    result = run(["-m", "stockhub.preflight"], embedded_redis, REDIS_URL="redis://127.0.0.1:6399/1")
    assert "redis://127.0.0.1:6399/1" in assert_one_line_naming(result, "REDIS_URL")


def test_a_missing_embedded_redis_says_how_to_start_it(base_env):
    result = run(["-m", "stockhub.preflight"], base_env)
    line = assert_one_line_naming(result, "CELERY_BROKER_URL unset")
    assert base_env["STOCKHUB_EMBEDDED_REDIS_SOCKET"] in line and "make up" in line


def test_preflight_passes_quietly_when_everything_answers(embedded_redis):
    result = run(["-m", "stockhub.preflight"], embedded_redis)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("stockhub: ready")


def test_preflight_waits_for_an_embedded_redis_that_is_still_starting(base_env):
    waiting = subprocess.Popen(
        [sys.executable, "-m", "stockhub.preflight", "--wait-seconds", "30"],
        cwd=ROOT,
        env=base_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)  # preflight is now retrying against a socket that does not exist yet
    server = subprocess.Popen(
        [sys.executable, "-m", "stockhub.embedded_redis", "--no-save", "--stop-grace-seconds", "0"],
        cwd=ROOT,
        env=base_env,
        stdout=subprocess.DEVNULL,
    )
    try:
        stdout, stderr = waiting.communicate(timeout=30)
        assert (waiting.returncode, stderr) == (0, "")
        assert "stockhub: ready" in stdout
    finally:
        waiting.kill()
        server.terminate()
        server.wait(timeout=10)


CLIENT = """
import sys, time
from celery_app import app

node = sys.argv[1]
assert app.control.ping(destination=[node], timeout=5), "worker did not answer ping"
app.send_task("celery.accumulate", args=(1, 2), queue="foreground")
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    totals = (app.control.inspect(destination=[node], timeout=1).stats() or {}).get(node, {}).get("total", {})
    if totals.get("celery.accumulate"):
        print("executed", totals["celery.accumulate"])
        break
    time.sleep(0.2)
"""


@pytest.mark.slow
def test_a_celery_worker_executes_a_task_sent_over_the_embedded_redis_socket(embedded_redis, short_dir):
    node = f"foreground-{os.getpid()}@embedded-test"
    log = short_dir / "worker.log"
    with log.open("w") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "-Q", "foreground", "-n", node]
            + ["--concurrency", "1", "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
            cwd=ROOT,
            env=embedded_redis,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 20
        client = run(["-c", CLIENT, node], embedded_redis)
        while client.returncode != 0 and time.monotonic() < deadline and worker.poll() is None:
            client = run(["-c", CLIENT, node], embedded_redis)  # the worker was still starting
        assert client.stdout.strip() == "executed 1", client.stderr + log.read_text()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    assert (
        f"Connected to redis+socket://{embedded_redis['STOCKHUB_EMBEDDED_REDIS_SOCKET']}" in log.read_text()
    )
