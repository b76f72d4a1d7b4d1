"""A real HTTP server on 127.0.0.1 that answers like Massive (Polygon) from recorded payloads.

Shared by the adapter tests and the job-retry tests (where a real worker talks to it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

PAYLOADS = Path(__file__).parent / "payloads"
API_KEY = "test-key-0123456789"


@dataclass
class Answer:
    status: int
    payload: str  # a file under payloads/
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


def recorded_aapl(path: str, query: dict[str, str]) -> Answer:
    """What Massive answers for AAPL: two pages of daily aggregates, one of hourly, and reference data."""
    if path.startswith("/v2/aggs/ticker/AAPL/range/1/day/"):
        return Answer(
            200,
            "massive_aggs_AAPL_day_page2.json" if "cursor" in query else "massive_aggs_AAPL_day_page1.json",
        )
    if path.startswith("/v2/aggs/ticker/AAPL/range/1/hour/"):
        return Answer(200, "massive_aggs_AAPL_hour.json")
    if path == "/v3/reference/tickers/AAPL":
        return Answer(200, "massive_ticker_AAPL.json")
    if path.startswith("/v2/aggs/ticker/"):
        return Answer(200, "massive_aggs_empty.json")
    if path.startswith("/v3/reference/tickers/"):
        return Answer(404, "massive_ticker_not_found.json")
    return Answer(404, "massive_ticker_not_found.json")


class FakeMassive(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler still sleeping for the timeout test must not hold up the next test

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer: Callable[[str, dict[str, str]], Answer] = recorded_aapl
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.request_times: list[float] = []  # time.monotonic() of each request

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request, client_address) -> None:
        pass  # the client of the timeout test hangs up before the answer: expected, not worth a traceback


class _Handler(BaseHTTPRequestHandler):
    server: FakeMassive

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        self.server.requests.append((parts.path, query))
        self.server.request_times.append(time.monotonic())
        answer = self.server.answer(parts.path, query)
        time.sleep(answer.delay_seconds)
        body = (PAYLOADS / answer.payload).read_bytes()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        pass


@contextmanager
def serving() -> Iterator[FakeMassive]:
    server = FakeMassive()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
