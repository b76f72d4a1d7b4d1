"""Bars and indicators answers are kept rendered in the web process (stockhub/answer_cache.py), keyed by the
ticker's data version: whatever writes a ticker's bars or indicators, the next read shows it."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.urls import reverse

from analysis.services import analyze_ticker
from analysis.tests.factories import random_walk, store
from ingest.models import Bar, DataVersion
from ingest.services.storage import SMALL_BATCH_ROWS
from portfolios.tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client):
    client.force_login(make_user("reader"))
    return client


def closes(client, symbol: str = "AAPL") -> list[float]:
    body = client.get(f"/api/bars/{symbol}?limit=5000").json()
    assert body["count"] == len(body["bars"])
    return [bar["close"] for bar in body["bars"]]


def corrected(bars, *, row: int = -1, factor: float = 1.01):
    """The same bars with one close moved (high and low widened to keep the bar sane)."""
    bars = bars.copy()
    bars.loc[bars.index[row], "close"] *= factor
    bars.loc[bars.index[row], "high"] = bars["high"].iloc[row] * 1.05
    bars.loc[bars.index[row], "low"] = bars["low"].iloc[row] * 0.95
    return bars


def test_a_bar_stored_after_a_read_is_in_the_next_read(reader):
    bars = random_walk(31)
    store("AAPL", bars.iloc[:30])
    assert len(closes(reader)) == 30
    store("AAPL", bars)
    assert len(closes(reader)) == 31


def test_a_corrected_bar_is_in_the_next_read(reader):
    bars = random_walk(30)
    store("AAPL", bars)
    before = closes(reader)
    store("AAPL", corrected(bars))
    after = closes(reader)
    assert after[:-1] == before[:-1] and after[-1] == pytest.approx(before[-1] * 1.01)


def test_a_large_import_after_a_read_is_in_the_next_read(reader):
    bars = random_walk(SMALL_BATCH_ROWS + 100)  # past the one-statement path: staged and merged
    store("AAPL", bars)
    before = closes(reader)
    store("AAPL", corrected(bars, row=0))
    assert closes(reader)[0] == pytest.approx(before[0] * 1.01)


def test_another_tickers_write_leaves_this_ones_answer_alone(reader):
    store("AAPL", random_walk(30))
    store("MSFT", random_walk(30, seed=1))
    aapl = DataVersion.objects.get(ticker__symbol="AAPL").version
    store("MSFT", corrected(random_walk(30, seed=1)))
    store("AAPL", random_walk(30))  # the same rows again: nothing changed
    assert DataVersion.objects.get(ticker__symbol="AAPL").version == aapl


def test_indicators_written_after_a_read_are_in_the_next_read(reader):
    bars = random_walk(260)
    ticker = store("AAPL", bars.iloc[:259])
    analyze_ticker(ticker_id=ticker.id, timeframe="daily")
    before = reader.get("/api/indicators/AAPL?names=sma_20&limit=2").json()["rows"]
    store("AAPL", bars)
    assert (
        reader.get("/api/indicators/AAPL?names=sma_20&limit=2").json()["rows"] == before
    )  # not analysed yet
    analyze_ticker(ticker_id=ticker.id, timeframe="daily")
    after = reader.get("/api/indicators/AAPL?names=sma_20&limit=2").json()["rows"]
    assert after[0] == before[1] and after[1]["ts"] > before[1]["ts"]


def test_a_bar_changed_or_deleted_in_admin_is_in_the_next_read(client):
    ticker = store("AAPL", random_walk(30))
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests"))
    newest = Bar.objects.filter(ticker=ticker).latest("ts")
    before = closes(client)
    form = {f: getattr(newest, f) for f in ("timeframe", "open", "high", "low", "volume", "source")}
    form |= {"ticker": ticker.id, "ts_0": newest.ts.date(), "ts_1": newest.ts.time(), "close": newest.low}
    response = client.post(reverse("admin:ingest_bar_change", args=[newest.id]), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert closes(client)[-1] == newest.low
    client.post(reverse("admin:ingest_bar_delete", args=[newest.id]), {"post": "yes"})
    assert closes(client) == before[:-1]


def test_a_cached_answer_still_needs_a_login_and_counts_against_the_throttle(client, settings, broker_url):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": settings.REDIS_URL}
    }  # the test Redis
    store("AAPL", random_walk(30))
    user = make_user("reader")
    cache.delete(f"throttle_user_{user.pk}")  # a count an earlier run left for the same id
    client.force_login(user)
    settings.STOCKHUB_API_THROTTLE_USER = "2/min"
    assert [client.get("/api/bars/AAPL").status_code for _ in range(3)] == [200, 200, 429]
    client.logout()
    assert client.get("/api/bars/AAPL").status_code == 403


def test_a_cached_answer_holds_what_drfs_own_renderer_writes(reader):
    """Cached answers are rendered by orjson (stockhub.api.render_json); an indented answer still goes through
    DRF's renderer: both must say the same, datetimes included."""
    ticker = store("AAPL", random_walk(60))
    analyze_ticker(ticker_id=ticker.id, timeframe="daily")
    for path in ("/api/bars/AAPL?limit=60", "/api/indicators/AAPL?limit=60"):
        cached = reader.get(path)
        indented = reader.get(path, HTTP_ACCEPT="application/json; indent=4")
        assert cached.status_code == indented.status_code == 200
        assert b"\n" not in cached.content and b"\n    " in indented.content  # the two paths really differ
        assert cached.json() == indented.json()
        first = cached.json()["bars" if "bars" in path else "rows"][0]
        assert first["ts"].endswith("Z")


def test_render_json_writes_what_drf_writes_and_null_for_what_json_cannot_hold():
    from datetime import UTC, date, datetime, timedelta, timezone
    from decimal import Decimal

    from rest_framework.renderers import JSONRenderer

    from stockhub.api import render_json

    data = {
        "utc": datetime(2024, 3, 1, 14, 30, tzinfo=UTC),
        "offset": datetime(2024, 3, 1, 9, 30, 0, 250, tzinfo=timezone(timedelta(hours=-5))),
        "day": date(2024, 3, 1),
        "price": Decimal("101.25"),
        "numbers": [1.0, 1e-05, 2.5e20, None, True],
        "text": "A\u2028B\u2029é",
        7: "a key that is not a string",
    }
    assert json.loads(render_json(data)) == json.loads(JSONRenderer().render(data))
    assert b"\\u2028" in render_json(data) and b"\\u2029" in render_json(data)  # safe inside <script>
    assert json.loads(render_json({"sma": float("nan"), "rsi": float("inf")})) == {"sma": None, "rsi": None}
