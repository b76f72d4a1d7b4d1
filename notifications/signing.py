"""Signing webhook bodies, and the check a receiver runs: pure Python, no Django, safe to copy out.

The signature is HMAC-SHA256, keyed with the hook's secret, over the bytes ``<timestamp>.<body>`` where
``<timestamp>`` is the X-StockHub-Timestamp header (Unix seconds) and ``<body>`` the raw request body. It is
sent as ``X-StockHub-Signature: sha256=<hex>``. Signing the timestamp with the body means an old request
replayed with a fresh timestamp no longer verifies, and a replay with its own timestamp is refused once it
is older than the tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_PREFIX = "sha256="
DEFAULT_TOLERANCE_SECONDS = 300


def sign(*, secret: str, body: bytes, timestamp: int) -> str:
    """The X-StockHub-Signature value for `body` sent at `timestamp` (Unix seconds)."""
    message = str(timestamp).encode() + b"." + body
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    *,
    secret: str,
    body: bytes | str,
    timestamp: str | int,
    signature: str,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when `signature` is ours for `body` and `timestamp`, and the timestamp is within
    `tolerance_seconds` of `now` (default: the clock) either way; False for anything else, never raises.

    `body` must be the raw bytes received, before any JSON parsing: re-serialising changes the bytes.
    """
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance_seconds:
        return False
    raw = body.encode() if isinstance(body, str) else body
    expected = sign(secret=secret, body=raw, timestamp=sent_at)
    return hmac.compare_digest(expected.encode(), (signature or "").encode())
