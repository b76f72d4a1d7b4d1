"""The live event stream: Redis pub/sub to the browser as server-sent events, filtered per user, through the
real ASGI server."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from ingest.services.job_events import JOBS_CHANNEL
from ingest.services.pipeline_events import ERRORS_CHANNEL, STATUS_CHANNEL
from ingest.tests.test_queue_workers import wait_until
from portfolios.tests.factories import make_portfolio, make_user
from stockhub.events import publish_event
from web.sse import Viewer, visible

pytestmark = pytest.mark.django_db(transaction=True)


class EventStream:
    """One GET /events/ read line by line in a thread, as a browser's EventSource would."""

    def __init__(self, url: str, *, session: str | None, last_event_id: str | None = None) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {"Accept": "text/event-stream"}
        if session:
            headers["Cookie"] = f"sessionid={session}"
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.connection.request("GET", "/events/", headers=headers)
        self.response = self.connection.getresponse()
        self.lines: list[str] = []
        self.messages: list[dict] = []  # {"id", "event", "data"} per blank-line-ended block
        if self.response.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        block: dict = {}
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                self.lines.append(line)
                if not line:
                    if "data" in block:
                        self.messages.append({**block, "data": json.loads(block["data"])})
                    block = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    block[name] = value
        except (OSError, ValueError, AttributeError):
            return  # the test closed the connection under the reader (http.client then drops its file)

    def events(self) -> list[dict]:
        return [m["data"] for m in self.messages if "event" not in m]

    def close(self) -> None:
        self.connection.close()


def session_of(client, user) -> str:
    client.force_login(user)
    return client.cookies["sessionid"].value


def hello(stream: EventStream) -> dict:
    wait_until(lambda: any(m.get("event") == "hello" for m in stream.messages), seconds=10, what="hello")
    return next(m["data"] for m in stream.messages if m.get("event") == "hello")


def test_the_rules_say_who_sees_which_event():
    ann = Viewer(user_id=1, is_staff=False, symbols={"AAPL"})
    boss = Viewer(user_id=2, is_staff=True)
    mine, theirs = {"user_id": 1, "symbol": "NVDA"}, {"user_id": 3, "symbol": "TSLA"}
    assert visible(channel=STATUS_CHANNEL, payload={"run_id": 1}, viewer=ann)  # run progress is public
    assert visible(channel="stockhub:processing:import:progress", payload={}, viewer=ann)
    assert visible(channel=JOBS_CHANNEL, payload=mine, viewer=ann)
    assert not visible(channel=JOBS_CHANNEL, payload=theirs, viewer=ann)
    assert visible(channel=JOBS_CHANNEL, payload={"user_id": None, "symbol": "AAPL"}, viewer=ann)  # held
    assert visible(channel="stockhub:ticker:progress", payload=mine, viewer=ann)
    assert not visible(channel="stockhub:ticker:progress", payload=theirs, viewer=ann)
    assert visible(channel="stockhub:patterns:detected", payload={"symbol": "AAPL"}, viewer=ann)
    assert not visible(channel="stockhub:patterns:detected", payload={"symbol": "TSLA"}, viewer=ann)
    assert not visible(channel=ERRORS_CHANNEL, payload={"symbol": "AAPL"}, viewer=ann)
    assert all(
        visible(channel=channel, payload=theirs, viewer=boss)
        for channel in (JOBS_CHANNEL, ERRORS_CHANNEL, "stockhub:ticker:failed", "stockhub:patterns:detected")
    )


@pytest.mark.slow
def test_a_user_receives_their_own_events_and_run_progress_with_ids_retry_and_heartbeats(client, asgi_server):
    ann = make_portfolio(owner=make_user("ann"), symbols=["AAPL"]).owner
    other = make_user("bob")
    assert EventStream(asgi_server.url, session=None).response.status == 403

    stream = EventStream(asgi_server.url, session=session_of(client, ann))
    assert stream.response.getheader("Content-Type").startswith("text/event-stream")
    assert hello(stream) == {"resumed": False, "staff": False}
    publish_event(JOBS_CHANNEL, "job.status", {"job_id": 1, "user_id": other.id, "symbol": "TSLA"})
    publish_event(ERRORS_CHANNEL, "symbol.failed", {"run_id": 9, "symbol": "AAPL", "code": "NETWORK_TIMEOUT"})
    publish_event(
        JOBS_CHANNEL, "job.status", {"job_id": 2, "user_id": ann.id, "symbol": "NVDA", "status": "running"}
    )
    publish_event(STATUS_CHANNEL, "run.started", {"run_id": 9, "percent": 0.0})
    publish_event("stockhub:patterns:detected", "pattern.detected", {"symbol": "NVDA", "kind": "doji"})
    wait_until(lambda: len(stream.events()) >= 3, seconds=10, what="three events")
    time.sleep(0.5)  # anything that should not arrive would have by now
    received = stream.events()
    assert [
        (e["channel"], e["payload"].get("job_id") or e["payload"].get("run_id")) for e in received[:2]
    ] == [
        (JOBS_CHANNEL, 2),
        (STATUS_CHANNEL, 9),
    ]
    assert received[2]["payload"]["kind"] == "doji"  # NVDA is hers now: she asked for it
    assert len(received) == 3  # not bob's job, not the staff-only failure
    assert [m["id"] for m in stream.messages if "event" not in m] == ["1", "2", "3"]
    assert stream.lines[0] == "retry: 3000"
    wait_until(lambda: ": heartbeat" in stream.lines, seconds=5, what="a heartbeat")
    stream.close()


@pytest.mark.slow
def test_staff_receive_every_event_and_a_reconnect_is_told_it_resumed(client, asgi_server):
    session = session_of(client, make_user("boss", staff=True))
    stream = EventStream(asgi_server.url, session=session, last_event_id="41")
    assert hello(stream) == {"resumed": True, "staff": True}
    publish_event(ERRORS_CHANNEL, "symbol.failed", {"run_id": 9, "symbol": "AAPL", "code": "NETWORK_TIMEOUT"})
    publish_event(JOBS_CHANNEL, "job.status", {"job_id": 1, "user_id": 77, "symbol": "TSLA"})
    wait_until(lambda: len(stream.events()) == 2, seconds=10, what="both events")
    assert [e["event"] for e in stream.events()] == ["symbol.failed", "job.status"]
    stream.close()
