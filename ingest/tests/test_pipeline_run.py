"""A whole pipeline run through real workers, the real broker, the real database and a real subscriber:
bars from the shared S&P 500 file via the csv provider, with injected provider faults."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import redis
from django.conf import settings

from analysis.models import IndicatorRow
from ingest.models import Bar, PipelineRun, RunStatus, SymbolRunStatus, SymbolStatus, Ticker
from ingest.services.derive import derive_longer_bars
from ingest.services.pipeline import cancel_run, retry_run, start_pipeline_run
from ingest.services.universes import Member, load_universe
from ingest.tests.test_queue_workers import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SYMBOLS = 60
BARS_PER_SYMBOL = 260
TIMEOUT = ["AAL", "AAP"]
BAD_ROWS = ["ABBV"]
UNKNOWN = "QQQQ"


@pytest.fixture(scope="module")
def market_csv(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The last BARS_PER_SYMBOL clean sessions of the first SYMBOLS symbols of the shared S&P 500 file."""
    source = Path(__file__).resolve().parents[3] / "shared" / "data" / "daily" / "sp500_all_stocks_5yr.csv.gz"
    if not source.is_file():
        pytest.skip(f"real market data not found at {source}")
    frame = pd.read_csv(source).rename(columns={"Name": "symbol"}).dropna()
    frame = frame[(frame["low"] > 0) & (frame["high"] >= frame["low"])]
    chosen = sorted(frame["symbol"].unique())[:SYMBOLS]
    frame = frame[frame["symbol"].isin(chosen)].sort_values(["symbol", "date"])
    frame = frame.groupby("symbol").tail(BARS_PER_SYMBOL)
    path = tmp_path_factory.mktemp("market") / "bars.csv"
    frame[["date", "open", "high", "low", "close", "volume", "symbol"]].to_csv(path, index=False)
    return path, frame


def worker_env(csv_path: Path, faults: str = "") -> dict[str, str]:
    return {
        "STOCKHUB_PROVIDER": "csv",
        "STOCKHUB_CSV_PATH": str(csv_path),
        "STOCKHUB_LOOKBACK_DAYS_DAILY": "5000",  # the file ends in 2018
        "STOCKHUB_PROVIDER_FAULTS": faults,
        "STOCKHUB_RETRY_BASE_SECONDS": "0.05",
        "STOCKHUB_RETRY_MAX_SECONDS": "0.2",
        "STOCKHUB_JOB_MAX_ATTEMPTS": "2",
    }


class Subscriber:
    """Every pipeline event, in arrival order, from a real Redis pub/sub subscription."""

    def __init__(
        self, patterns: tuple[str, ...] | list[str] = ("stockhub:processing:*", "stockhub:errors")
    ) -> None:
        self.client = redis.Redis.from_url(settings.REDIS_URL)
        self.pubsub = self.client.pubsub()
        self.pubsub.psubscribe(*patterns)
        for _ in patterns:
            self.pubsub.get_message(timeout=1)  # the subscribe confirmations
        self.messages: list[tuple[str, dict]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message and message["type"] == "pmessage":
                self.messages.append((message["channel"].decode(), json.loads(message["data"])))

    def close(self) -> list[tuple[str, dict]]:
        time.sleep(0.5)  # the last events are on their way
        self._stop.set()
        self._thread.join(timeout=5)
        self.pubsub.close()
        return self.messages


def make_universe(frame: pd.DataFrame, *, extra: list[str] = ()) -> str:
    symbols = sorted(frame["symbol"].unique()) + list(extra)
    load_universe(slug="test60", members=[Member(symbol) for symbol in symbols])
    return "test60"


def run_ended(run_id: int) -> bool:
    return PipelineRun.objects.get(id=run_id).status not in (RunStatus.PENDING, RunStatus.RUNNING)


def test_a_full_run_stores_every_bar_reports_faults_by_code_and_a_retry_completes_them(
    workers, market_csv, clean_broker
):
    csv_path, frame = market_csv
    faults = f"timeout={','.join(TIMEOUT)};bad_rows={','.join(BAD_ROWS)}"
    workers.start("background", concurrency=2, env=worker_env(csv_path, faults))
    workers.start(
        "analysis", concurrency=2, env=worker_env(csv_path, faults)
    )  # two claims at once, as in the Procfile
    universe = make_universe(frame, extra=[UNKNOWN])
    subscriber = Subscriber()

    start = start_pipeline_run(universe=universe, trigger="manual")
    wait_until(lambda: run_ended(start.run_id), seconds=240, what="the run to end")
    events = subscriber.close()

    run = PipelineRun.objects.get(id=start.run_id)
    assert run.status == RunStatus.COMPLETED_WITH_ERRORS
    failed = dict(
        SymbolRunStatus.objects.filter(run=run, status=SymbolStatus.FAILED).values_list(
            "ticker__symbol", "error_code"
        )
    )
    assert failed == {
        "AAL": "NETWORK_TIMEOUT",
        "AAP": "NETWORK_TIMEOUT",
        "ABBV": "VALIDATION_FAILED",
        UNKNOWN: "SYMBOL_NOT_FOUND",
    }
    assert SymbolRunStatus.objects.filter(run=run, status=SymbolStatus.DONE).count() == SYMBOLS - 3
    good = sorted(set(frame["symbol"]) - set(TIMEOUT) - set(BAD_ROWS))
    stored = pd.DataFrame(
        Bar.objects.filter(ticker__symbol__in=good, timeframe="daily").values_list("ticker__symbol", "close"),
        columns=["symbol", "close"],
    )
    expected = frame[frame["symbol"].isin(good)]
    assert stored.groupby("symbol").size().to_dict() == expected.groupby("symbol").size().to_dict()
    assert stored["close"].sum() == pytest.approx(expected["close"].sum(), rel=1e-12)
    one = Ticker.objects.get(symbol=good[0])
    # The run derived weekly and monthly bars in its batches: deriving them again from scratch changes nothing.
    again = derive_longer_bars(
        ticker_ids=list(Ticker.objects.filter(symbol__in=good).values_list("id", flat=True))
    )
    assert all(counts.new == 0 and counts.updated == 0 and counts.unchanged > 0 for counts in again.values())
    for timeframe in ("daily", "weekly", "monthly"):
        bars = Bar.objects.filter(ticker=one, timeframe=timeframe).count()
        assert bars and IndicatorRow.objects.filter(ticker=one, timeframe=timeframe).count() == bars

    assert_events_in_order(events, run_id=run.id, phases=["import", "indicators", "patterns"])
    errors = {
        payload["payload"]["symbol"]: payload["payload"]["code"]
        for channel, payload in events
        if channel == "stockhub:errors"
    }
    assert errors == failed

    # The faults are gone (the provider is back): a retry re-runs only the failed symbols.
    workers.stop_all()
    workers.start("background", env=worker_env(csv_path))
    workers.start("analysis", env=worker_env(csv_path))
    again = retry_run(run_id=run.id)
    assert again.symbols == 4
    wait_until(lambda: run_ended(again.run_id), seconds=120, what="the retry run to end")
    retried = PipelineRun.objects.get(id=again.run_id)
    assert retried.retry_of_id == run.id and retried.trigger == "retry"
    assert dict(SymbolRunStatus.objects.filter(run=retried).values_list("ticker__symbol", "status")) == {
        "AAL": "done",
        "AAP": "done",
        "ABBV": "done",
        UNKNOWN: "failed",
    }
    for symbol in ("AAL", "AAP", "ABBV"):
        assert Bar.objects.filter(ticker__symbol=symbol, timeframe="daily").count() == len(
            frame[frame["symbol"] == symbol]
        )


def assert_events_in_order(events: list[tuple[str, dict]], *, run_id: int, phases: list[str]) -> None:
    ours = [
        (channel.removeprefix("stockhub:processing:"), body)
        for channel, body in events
        if channel.startswith("stockhub:processing:") and body["payload"].get("run_id") == run_id
    ]
    for _channel, body in ours:
        assert set(body) == {"event", "timestamp", "source", "version", "payload"}
        assert body["source"] == "stockhub" and body["version"] == "1"
    lifecycle = [channel for channel, _ in ours if not channel.endswith(":progress")]
    expected = ["status"]
    for phase in phases:
        expected += [f"{phase}:started", f"{phase}:completed"]
    expected += ["status"]
    assert lifecycle == expected
    percents = [body["payload"]["percent"] for channel, body in ours if channel.endswith(":progress")]
    assert percents and percents == sorted(percents) and percents[-1] == 100.0
    assert ours[-1][1]["event"] == "run.completed" and ours[-1][1]["payload"]["percent"] == 100.0
    etas = [body["payload"]["eta_seconds"] for channel, body in ours if channel.endswith(":progress")]
    assert etas[-1] == 0.0 or etas[-1] is None or etas[-1] < 1


def test_cancelling_a_run_stops_queued_symbols_and_lets_running_ones_finish(
    workers, market_csv, clean_broker
):
    csv_path, frame = market_csv
    universe = make_universe(frame)
    workers.start("background", env={**worker_env(csv_path), "STOCKHUB_SYNTHETIC_LATENCY_MS": "0"})
    start = start_pipeline_run(universe=universe, trigger="manual", phases="import")
    wait_until(
        lambda: SymbolRunStatus.objects.filter(run_id=start.run_id, status=SymbolStatus.DONE).count() >= 3,
        what="a few symbols to be imported",
    )
    cancel_run(run_id=start.run_id, reason="test")
    wait_until(
        lambda: (
            not SymbolRunStatus.objects.filter(run_id=start.run_id, status__in=["queued", "running"])
            .exclude(job__status__in=["queued", "running"])
            .exists()
            and not SymbolRunStatus.objects.filter(run_id=start.run_id, job__status="running").exists()
        ),
        what="running symbols to finish",
    )
    run = PipelineRun.objects.get(id=start.run_id)
    statuses = set(SymbolRunStatus.objects.filter(run=run).values_list("status", flat=True))
    assert run.status == RunStatus.CANCELLED
    assert statuses <= {"done", "cancelled", "queued"}
    cancelled = SymbolRunStatus.objects.filter(run=run, status="cancelled").count()
    assert cancelled > 0
    # Nothing of the cancelled symbols ran afterwards: their jobs were cancelled, not just forgotten.
    assert not SymbolRunStatus.objects.filter(run=run, status="cancelled", job__status="succeeded").exists()
