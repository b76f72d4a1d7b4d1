"""Shared by the benchmarks: run statistics, the machine description, and rewriting one section of
docs/BENCHMARKS.md between `<!-- bench:NAME -->` markers so each benchmark owns its own section."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "BENCHMARKS.md"
HEADER = """# Benchmarks

Written by `make bench` (each script in `bench/` rewrites its own section). Figures are medians of the runs
named in each section, measured in one run of the script, next to baselines measured in the same run.
"""


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    postgres = (
        subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip() or "psql ?"
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}, "
        f"{postgres.replace('psql (PostgreSQL)', 'PostgreSQL')}, "
        f"a TCP round trip between two processes on 127.0.0.1 {round_trip_microseconds():.0f} µs"
    )


def round_trip_microseconds(trips: int = 2000) -> float:
    """Median time for one byte to go to another process and back over TCP on 127.0.0.1, as every query,
    Redis command and broker message here does at least once. It differs between machines far more than
    their CPU names say (virtual machines that let idle cores sleep wake them slowly), so a figure below
    can be read against the machine it was measured on."""
    import socket
    import time

    listener = socket.create_server(("127.0.0.1", 0))
    pid = os.fork()
    if pid == 0:  # the echo; it gives up if the measuring side never connects
        listener.settimeout(10)
        echo, _ = listener.accept()
        echo.settimeout(None)
        echo.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := echo.recv(1):
            echo.sendall(data)
        os._exit(0)
    times = []
    with socket.create_connection(listener.getsockname()) as client:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(trips):
            started = time.perf_counter()
            client.sendall(b"x")
            client.recv(1)
            times.append(time.perf_counter() - started)
    listener.close()
    os.waitpid(pid, 0)
    return statistics.median(times) * 1e6


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section `name` of docs/BENCHMARKS.md."""
    text = REPORT.read_text() if REPORT.exists() else HEADER
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"<!-- bench:{name} -->\n{body.strip()}\n\n_Measured {stamp} on {machine()}._\n<!-- /bench:{name} -->"
    )
    pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text.rstrip()}\n\n{block}\n"
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(text)


def fresh_database(database_url: str) -> None:
    """Drop and re-create the PostgreSQL database of `database_url`, then migrate it."""
    name = urlparse(database_url).path.lstrip("/")
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", admin, "-qc", sql], check=True, capture_output=True)
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def run_child(script: str, args: list[str], database_url: str) -> dict:
    """Run `script --child ARGS` in a fresh process on `database_url` (so its peak RSS is its own); returns
    the JSON object it prints last."""
    out = subprocess.run(
        [sys.executable, script, "--child", *args],
        env={**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])
