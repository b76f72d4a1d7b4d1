"""Reading and checking configuration from the environment; every error names the variable to fix."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
# The embedded Redis (see stockhub/embedded_redis.py) listens on this socket when no broker URL is set.
# STOCKHUB_EMBEDDED_REDIS_SOCKET moves it, e.g. for a test that runs its own embedded Redis.
EMBEDDED_REDIS_SOCKET = Path(os.environ.get("STOCKHUB_EMBEDDED_REDIS_SOCKET") or VAR_DIR / "redis.sock")

PROVIDERS = ("yfinance", "massive", "csv", "synthetic")
DATABASE_SCHEMES = ("postgres", "postgresql", "pgsql", "psql", "sqlite")
BROKER_SCHEMES = ("redis", "rediss", "redis+socket", "amqp", "pyamqp")
REDIS_SCHEMES = ("redis", "rediss", "unix")
# Broker URLs served by kombu's Redis transport; every other accepted scheme is AMQP (RabbitMQ).
REDIS_BROKER_SCHEMES = ("redis", "rediss", "redis+socket")


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which variable and what to put there."""


def check_database_url(url: str) -> str:
    scheme = urlparse(url).scheme
    if scheme not in DATABASE_SCHEMES:
        raise ConfigError(
            f"DATABASE_URL={url!r} is not a database URL; use postgres://USER@HOST:5432/NAME "
            "(or unset it for the embedded SQLite file)"
        )
    return url


def check_broker_url(name: str, url: str) -> str:
    scheme = urlparse(url).scheme
    if scheme not in BROKER_SCHEMES:
        raise ConfigError(
            f"{name}={url!r} is not a broker URL; use redis://HOST:6379/0 or amqp://USER:PASS@HOST:5672// "
            "(or unset it for the embedded Redis)"
        )
    return url


def is_redis_broker(url: str) -> bool:
    """True for a Redis broker URL (priority 0 served first), False for AMQP (the highest number first)."""
    return urlparse(url).scheme in REDIS_BROKER_SCHEMES


def check_redis_url(url: str) -> str:
    if urlparse(url).scheme not in REDIS_SCHEMES:
        raise ConfigError(f"REDIS_URL={url!r} is not a Redis URL; use redis://HOST:6379/1 (or unset it)")
    return url


def check_provider(name: str) -> str:
    if name not in PROVIDERS:
        raise ConfigError(f"STOCKHUB_PROVIDER={name!r} is unknown; choose one of: {', '.join(PROVIDERS)}")
    return name


def embedded_broker_url() -> str:
    """Kombu's form of the embedded Redis socket (database 0 carries the Celery queues)."""
    return f"redis+socket://{EMBEDDED_REDIS_SOCKET}?virtual_host=0"


def embedded_redis_url() -> str:
    """redis-py's form of the embedded Redis socket (database 1 carries events, locks and rate limits)."""
    return f"unix://{EMBEDDED_REDIS_SOCKET}?db=1"
