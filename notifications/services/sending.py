"""One signed HTTP POST to a webhook's checked address, with its own timeouts: the only network code here."""

from __future__ import annotations

import time
from dataclasses import dataclass

import certifi
import urllib3
from django.conf import settings

from notifications.addresses import Target, resolve_target
from notifications.errors import WebhookError, WebhookErrorCode
from notifications.signing import sign

USER_AGENT = "StockHub-Webhooks/1"
# Enough of an error response to say what went wrong in admin; a receiver's full error page is not kept.
ERROR_BODY_BYTES = 200


@dataclass(frozen=True)
class Response:
    """What one request got: a status code, or an error before any status came back."""

    code: int | None
    error: str
    duration_ms: int
    connection_failed: bool  # no answer: timeout, refused, reset, TLS failure, a host that did not resolve


def post_signed(*, url: str, secret: str, body: str, event: str, delivery_id: int, attempt: int) -> Response:
    """POST `body` to `url` signed with `secret`; never raises for a network problem or a refused address."""
    started = time.monotonic()

    def took() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        target = resolve_target(url)  # again at every attempt: the host's DNS may have changed since
    except WebhookError as error:
        return Response(
            None, error.message, took(), connection_failed=error.code == WebhookErrorCode.HOST_NOT_FOUND
        )
    raw = body.encode()
    timestamp = int(time.time())  # the real clock even when a test moves `now`: the receiver checks it
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Host": target.host_header,
        "X-StockHub-Event": event,
        "X-StockHub-Delivery": str(delivery_id),
        "X-StockHub-Attempt": str(attempt),
        "X-StockHub-Timestamp": str(timestamp),
        "X-StockHub-Signature": sign(secret=secret, body=raw, timestamp=timestamp),
    }
    try:
        with _pool(target) as pool:
            response = pool.urlopen(
                "POST",
                target.path,
                body=raw,
                headers=headers,
                redirect=False,  # a redirect could point anywhere, past the address check
                assert_same_host=False,
                preload_content=False,
            )
            try:
                code = response.status
                text = "" if 200 <= code < 300 else response.read(ERROR_BODY_BYTES).decode("utf-8", "replace")
            finally:
                response.close()
    except (urllib3.exceptions.HTTPError, OSError) as error:
        return Response(None, f"{type(error).__name__}: {error}"[:300], took(), connection_failed=True)
    return Response(code, text.strip(), took(), connection_failed=False)


def _pool(target: Target) -> urllib3.HTTPConnectionPool:
    """A one-connection pool to the address that passed the check (not to a fresh DNS answer)."""
    timeout = urllib3.Timeout(
        connect=settings.STOCKHUB_WEBHOOK_TIMEOUT_SECONDS, read=settings.STOCKHUB_WEBHOOK_TIMEOUT_SECONDS
    )
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            server_hostname=target.host,  # SNI and the certificate are checked for the name, not the address
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
        )
    return urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False, maxsize=1)
