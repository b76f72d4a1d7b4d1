"""A real HTTP receiver on 127.0.0.1 that checks signatures the documented way, and webhook settings for tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from notifications.signing import verify_signature

# Deliveries may call the receiver on loopback; nothing else private. Retries come after a second.
TEST_ALLOWED_NETWORKS = ["127.0.0.1/32"]
TEST_RETRY_SCHEDULE_SECONDS = [1, 1]
WORKER_ENV = {
    "STOCKHUB_WEBHOOK_ALLOWED_NETWORKS": ",".join(TEST_ALLOWED_NETWORKS),
    "STOCKHUB_WEBHOOK_RETRY_SCHEDULE_SECONDS": ",".join(map(str, TEST_RETRY_SCHEDULE_SECONDS)),
}


@pytest.fixture(autouse=True)
def _webhook_settings(settings) -> None:
    settings.STOCKHUB_WEBHOOK_ALLOWED_NETWORKS = TEST_ALLOWED_NETWORKS
    settings.STOCKHUB_WEBHOOK_RETRY_SCHEDULE_SECONDS = TEST_RETRY_SCHEDULE_SECONDS


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool | None  # None: the receiver had no secret to check with


class Receiver:
    """Answers POSTs with scripted status codes (then 200), optionally after a delay; with a secret, first
    runs verify_signature on the raw body and answers 401 when it fails, as docs/webhooks.md tells receivers."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.statuses: list[int] = []
        self.secret: str | None = None
        self.clock_offset_seconds = 0.0  # pretend the receiver's clock is this far ahead (replay tests)
        self.delay_seconds = 0.0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def respond_with(self, *statuses: int) -> None:
        self.statuses = list(statuses)

    def replay(self, request: Received, **changed_headers: str) -> int:
        """Send a received request again, byte for byte (with headers changed); the receiver's answer."""
        headers = {**request.headers, **changed_headers}
        return requests.post(self.url, data=request.body, headers=headers, timeout=5).status_code

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        verified = None
        if self.secret is not None:
            verified = verify_signature(
                secret=self.secret,
                body=body,
                timestamp=headers.get("X-StockHub-Timestamp", ""),
                signature=headers.get("X-StockHub-Signature", ""),
                now=time.time() + self.clock_offset_seconds,
            )
        with self._lock:
            self.requests.append(Received(path, headers, body, verified))
            status = self.statuses.pop(0) if self.statuses else 200
        return 401 if verified is False else status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                status = receiver._answer(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:  # keep the test output quiet
                pass

        return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
