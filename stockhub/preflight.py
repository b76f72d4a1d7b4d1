"""Start-up checks: settings load, and the database, broker and REDIS_URL answer; a problem is one line.

`python -m stockhub.preflight [--wait-seconds N]` exits 0, or prints one line naming what to fix and exits 2.
`python -m stockhub.preflight [--wait-seconds N] -- CMD...` then runs CMD the way the Procfile needs it.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

EXIT_PROBLEM = 2
# Each attempt waits at most this long for a server, so a firewalled host fails in seconds, not minutes.
CONNECT_TIMEOUT_SECONDS = 3
RETRY_INTERVAL_SECONDS = 0.25
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class Problem(Exception):
    """Something the operator must fix before StockHub can start; the message names it."""


def load_settings() -> object:
    """Import the settings; a ConfigError (or django-environ's ImproperlyConfigured) becomes a Problem."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stockhub.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured

    from stockhub.config import ConfigError

    try:
        django.setup()
    except (ConfigError, ImproperlyConfigured) as error:
        raise Problem(f"configuration error: {error}") from error
    from django.conf import settings

    return settings


def check_provider(settings: object) -> None:
    """The provider is known (settings checked that) and has what it needs to run."""
    provider = settings.STOCKHUB_PROVIDER
    if provider == "massive" and not settings.MASSIVE_API_KEY:
        raise Problem("STOCKHUB_PROVIDER=massive needs MASSIVE_API_KEY; set it or choose another provider")
    if provider == "csv" and not os.path.isdir(settings.STOCKHUB_CSV_PATH):
        raise Problem(
            f"STOCKHUB_CSV_PATH={settings.STOCKHUB_CSV_PATH!r} is not a directory; "
            "point it at the folder of CSV files for STOCKHUB_PROVIDER=csv"
        )


def check_database(settings: object) -> None:
    """The default database answers SELECT 1."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        reason = _reason(error)
        fix = "create it or fix the URL" if "does not exist" in reason else "start PostgreSQL or fix the URL"
        url = _display_url(settings.DATABASE_URL)
        raise Problem(
            f"cannot reach the database at {url} ({_variable('DATABASE_URL')}): {reason} — {fix}"
        ) from error
    finally:
        connection.close()


def check_broker(settings: object) -> None:
    """The Celery broker accepts a connection (for Redis, kombu pings it)."""
    from kombu import Connection
    from kombu.exceptions import OperationalError

    url = settings.CELERY_BROKER_URL
    connection = Connection(url, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        connection.ensure_connection(max_retries=0)  # one attempt; run_checks decides about waiting
    except (OperationalError, OSError, *connection.connection_errors, *connection.channel_errors) as error:
        raise Problem(_unreachable("the broker", url, "CELERY_BROKER_URL", error)) from error
    finally:
        connection.release()


def check_redis(settings: object) -> None:
    """REDIS_URL (events, locks, rate limits) answers PING."""
    import redis

    url = settings.REDIS_URL
    client = redis.Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_timeout=CONNECT_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as error:
        raise Problem(_unreachable("Redis", url, "REDIS_URL", error)) from error
    finally:
        client.close()


def check_flower_auth() -> None:
    """FLOWER_BASIC_AUTH, when set and not empty, is user:password (Flower splits several on commas)."""
    value = os.environ.get("FLOWER_BASIC_AUTH")
    if not value:
        return
    for credential in value.split(","):
        user, _, password = credential.partition(":")
        if not user or not password:
            raise Problem("FLOWER_BASIC_AUTH must be user:password (unset it to get a generated password)")


def run_checks(*, wait_seconds: float) -> str:
    """Run every check, retrying the servers for up to `wait_seconds`; returns a summary of what answered."""
    settings = load_settings()
    check_provider(settings)
    check_flower_auth()
    deadline = time.monotonic() + wait_seconds
    for check in (check_database, check_broker, check_redis):
        while True:
            try:
                check(settings)
                break
            except Problem:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(RETRY_INTERVAL_SECONDS)
    return (
        f"database {_display_url(settings.DATABASE_URL)}, broker {_display_url(settings.CELERY_BROKER_URL)}, "
        f"Redis {_display_url(settings.REDIS_URL)}, provider {settings.STOCKHUB_PROVIDER}"
    )


def _unreachable(what: str, url: str, variable: str, error: BaseException) -> str:
    from stockhub.config import EMBEDDED_REDIS_SOCKET

    if str(EMBEDDED_REDIS_SOCKET) in url:
        where, variable = f"the embedded Redis at {EMBEDDED_REDIS_SOCKET}", f"{variable} unset"
        fix = "run `make up`, start it with `python -m stockhub.embedded_redis`, or set the URL"
    else:
        where = f"{what} at {_display_url(url)}"
        server = "RabbitMQ" if urlsplit(url).scheme in ("amqp", "pyamqp") else "Redis"
        fix = f"start {server} or fix the URL"
    return f"cannot reach {where} ({variable}): {_reason(error)} — {fix}"


def _variable(name: str) -> str:
    return name if os.environ.get(name) else f"{name} unset"


def _display_url(url: str) -> str:
    """The URL with any password masked, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _reason(error: BaseException) -> str:
    """The most specific one-line cause: an OSError's text ("Connection refused"), else the first line."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    line = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
    # psycopg2: 'connection to server at "127.0.0.1", port 5432 failed: FATAL:  database "x" does not exist'
    return line.rpartition("failed: ")[2].removeprefix("FATAL:").strip()


def run_supervised(command: list[str]) -> int:
    """Run `command` in its own process group and pass SIGTERM/SIGINT to its main process only.

    honcho stops a process by signalling its whole group. A Celery worker's pool processes reset SIGTERM to
    the default, so a group-wide SIGTERM kills running tasks; sent to the main process alone, it is a warm
    shutdown that lets them finish. If honcho gives up and SIGKILLs us, the command is killed with us.
    """
    child = subprocess.Popen(command, start_new_session=True, preexec_fn=parent_death_signal(signal.SIGKILL))
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, _frame: child.send_signal(signum))
    returncode = child.wait()
    return returncode if returncode >= 0 else 128 - returncode


def parent_death_signal(signum: int) -> Callable[[], None]:
    """A Popen preexec_fn: the child gets `signum` when this process dies, even by SIGKILL (Linux only)."""

    def set_signal() -> None:
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum)

    return set_signal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stockhub.preflight", description=__doc__)
    parser.add_argument(
        "--wait-seconds",
        type=float,
        default=0,
        help="keep retrying the servers this long (embedded Redis start)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD...: run CMD once the checks pass")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if command:
        # The checks run in a child, so this process stays small while it waits on CMD for hours.
        checks = subprocess.run(
            [sys.executable, "-m", "stockhub.preflight", "--wait-seconds", str(args.wait_seconds)]
        )
        return checks.returncode or run_supervised(command)
    try:
        summary = run_checks(wait_seconds=args.wait_seconds)
    except Problem as problem:
        sys.stderr.write(f"stockhub: {problem}\n")
        return EXIT_PROBLEM
    sys.stdout.write(f"stockhub: ready — {summary}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
