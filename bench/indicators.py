"""Indicators and patterns benchmark: every indicator and pattern of the S&P 500 five-year file (505 symbols,
619k bars) computed and stored in PostgreSQL, in full and after one new bar per symbol, plus the maths alone
next to TA-Lib and the `ta` package on the same series. Writes its section of docs/BENCHMARKS.md.

    .venv/bin/python bench/indicators.py [--runs 3] [--workers 2]
        [--database-url postgres://postgres@127.0.0.1:5432/stockhub_bench_indicators]

The database is dropped and re-created (its own, so bench/ingest.py's is left alone). Each measurement
runs in a fresh child process, so its peak RSS is its own. New events on the newest bars are published to
REDIS_URL when it is set, else to the machine's Redis (database 6), as the other benchmarks use it; an
unreachable Redis costs a logged warning and shows as 0 published, nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.ingest import DATA  # noqa: E402
from bench.report import fresh_database, median, run_child, write_section  # noqa: E402

GOALS = {"full": 30.0, "incremental": 5.0, "rss_mb": 300, "talib_ratio": 3.0}
COMPUTE_REPEATS = 5
REDIS_URL = "redis://127.0.0.1:6379/6"  # where new events go when REDIS_URL is not set
TA_SYMBOLS = 50  # the `ta` package needs ~18 ms a symbol; 50 symbols give a stable figure in ~1 s


def child(mode: str, workers: int) -> None:
    """One measurement inside a fresh process: prints {"seconds", "rss_mb", "result"} as JSON."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stockhub.settings")
    import django

    django.setup()
    started = time.perf_counter()
    result = MODES[mode](workers)
    seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "result": result}))


def _import(workers: int) -> dict:
    from ingest.services import import_bars_file

    return import_bars_file(path=DATA, timeframe="daily", derive=False).as_dict()


def _reset(workers: int) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE analysis_indicatorrow, analysis_patternevent, analysis_analysisstate")
    return {}


def _ticker_ids() -> list[int]:
    from ingest.models import Ticker

    return list(Ticker.objects.order_by("symbol").values_list("id", flat=True))


def _analyse(full: bool, workers: int) -> dict:
    from analysis.services import analyze_tickers

    return analyze_tickers(ticker_ids=_ticker_ids(), timeframe="daily", full=full, workers=workers).as_dict()


def _add_bar(workers: int) -> dict:
    """One new daily bar per symbol, the business day after its newest (what a day's fetch brings)."""
    import pandas as pd

    from analysis.selectors import bars_frame
    from ingest.models import Ticker
    from ingest.services import import_bars_frame

    symbols = dict(Ticker.objects.values_list("id", "symbol"))
    last = bars_frame(starts=dict.fromkeys(symbols), timeframe="daily").groupby("ticker_id").tail(1)
    close = last["close"] * 1.003
    frame = pd.DataFrame(
        {
            "symbol": last["ticker_id"].map(symbols),
            "ts": last["ts"] + pd.offsets.BDay(1),
            "open": last["close"],
            "high": close * 1.004,
            "low": last["close"] * 0.996,
            "close": close,
            "volume": last["volume"],
        }
    )
    return import_bars_frame(frame=frame, timeframe="daily", source="bench", derive=False).as_dict()


def _compute(workers: int) -> dict:
    """The maths alone, on the stored series: StockHub (one panel, and symbol by symbol), TA-Lib, `ta`."""
    from analysis import indicators, patterns
    from analysis.panel import Panel, build_panel
    from analysis.selectors import bars_frame

    bars = bars_frame(starts=dict.fromkeys(_ticker_ids()), timeframe="daily")
    series = [group.reset_index(drop=True) for _, group in bars.groupby("ticker_id", sort=False)]
    arrays = [_arrays(s) for s in series]
    panel, _ = build_panel(bars, by="ticker_id")

    def maths() -> None:  # a fresh Panel: nothing cached from the previous repeat
        indicators.compute_panel(Panel(panel.open, panel.high, panel.low, panel.close, panel.volume))

    timings = {
        "maths": _median_seconds(maths),
        "panel": _median_seconds(lambda: indicators.compute(bars, by="ticker_id")),
        "one_by_one": _median_seconds(lambda: [indicators.compute(s) for s in series]),
        "talib": _median_seconds(lambda: [_talib_indicators(a) for a in arrays]),
        "ta": _median_seconds(lambda: [_ta_indicators(s) for s in series[:TA_SYMBOLS]], repeats=1)
        * len(series)
        / TA_SYMBOLS,
        "talib_candles": _median_seconds(lambda: [_talib_candles(a) for a in arrays]),
    }
    values = indicators.compute_panel(panel)
    timings["patterns"] = _median_seconds(lambda: patterns.detect_panel(panel, values, timeframe="daily"))
    return {
        "symbols": len(series),
        "bars": len(bars),
        "seconds": timings,
        "talib_agreement": _agreement(bars, series),
    }


def _median_seconds(function, repeats: int = COMPUTE_REPEATS) -> float:
    """Median CPU seconds of this process (steadier than wall time on a machine doing other work)."""
    runs = []
    for _ in range(repeats):
        started = time.process_time()
        function()
        runs.append(time.process_time() - started)
    return median(runs)


def _arrays(bars) -> tuple:
    return tuple(bars[c].to_numpy(dtype="float64") for c in ("open", "high", "low", "close", "volume"))


def _talib_indicators(arrays: tuple) -> list:
    import talib

    _, high, low, close, volume = arrays
    return [
        *(talib.SMA(close, n) for n in (20, 50, 200)),
        *(talib.EMA(close, n) for n in (12, 26)),
        talib.RSI(close, 14),
        talib.MACD(close, 12, 26, 9),
        talib.BBANDS(close, 20, 2, 2, 0),
        talib.ATR(high, low, close, 14),
        talib.OBV(close, volume),
        talib.STOCHF(high, low, close, 14, 3, 0),
        talib.ADX(high, low, close, 14),
        talib.PLUS_DI(high, low, close, 14),
        talib.MINUS_DI(high, low, close, 14),
    ]


def _talib_candles(arrays: tuple) -> list:
    import talib

    open_, high, low, close, _ = arrays
    functions = (talib.CDLDOJI, talib.CDLHAMMER, talib.CDLSHOOTINGSTAR, talib.CDLENGULFING)
    return [f(open_, high, low, close) for f in functions] + [
        talib.CDLMORNINGSTAR(open_, high, low, close),
        talib.CDLEVENINGSTAR(open_, high, low, close),
    ]


def _ta_indicators(bars) -> list:
    import warnings

    import ta

    high, low, close, volume = (bars[c].astype("float64") for c in ("high", "low", "close", "volume"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macd = ta.trend.MACD(close, 26, 12, 9)
        bands = ta.volatility.BollingerBands(close, 20, 2)
        stoch = ta.momentum.StochasticOscillator(high, low, close, 14, 3)
        adx = ta.trend.ADXIndicator(high, low, close, 14)
        return [
            *(ta.trend.sma_indicator(close, n) for n in (20, 50, 200)),
            *(ta.trend.ema_indicator(close, n) for n in (12, 26)),
            ta.momentum.rsi(close, 14),
            macd.macd(),
            macd.macd_signal(),
            macd.macd_diff(),
            bands.bollinger_hband(),
            bands.bollinger_mavg(),
            bands.bollinger_lband(),
            bands.bollinger_pband(),
            ta.volatility.average_true_range(high, low, close, 14),
            ta.volume.on_balance_volume(close, volume),
            stoch.stoch(),
            stoch.stoch_signal(),
            adx.adx(),
            adx.adx_pos(),
            adx.adx_neg(),
        ]


def _agreement(bars, series) -> float:
    """Largest difference from TA-Lib after a 250-bar warm-up, relative to max(|value|, the series' largest)."""
    import numpy as np

    from analysis import indicators

    computed = indicators.compute(bars, by="ticker_id")
    names = ["sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "rsi_14", "atr_14", "obv", "adx_14"]
    worst, start = 0.0, 0
    for s in series:
        ours = computed.iloc[start : start + len(s)]
        start += len(s)
        reference = _talib_indicators(_arrays(s))
        flat = dict(zip(names[:6], reference[:6], strict=True))
        flat.update(macd=reference[6][0], macd_signal=reference[6][1], bb_upper=reference[7][0])
        flat.update(atr_14=reference[8], obv=reference[9], stoch_k=reference[10][0], adx_14=reference[11])
        for name, expected in flat.items():
            a, b = ours[name].to_numpy()[250:], expected[250:]
            present = ~np.isnan(b)
            if present.any():
                scale = np.maximum(np.abs(b[present]), np.abs(b[present]).max())
                worst = max(worst, float((np.abs(a[present] - b[present]) / scale).max()))
    return worst


def _sizes(workers: int) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM analysis_indicatorrow), pg_total_relation_size('analysis_indicatorrow'),"
            " (SELECT count(*) FROM analysis_patternevent), pg_total_relation_size('analysis_patternevent')"
        )
        rows, rows_bytes, events, events_bytes = cursor.fetchone()
    return {"rows": rows, "rows_mb": rows_bytes / 2**20, "events": events, "events_mb": events_bytes / 2**20}


MODES = {
    "import": _import,
    "reset": _reset,
    "full": lambda workers: _analyse(True, workers),
    "add-bar": _add_bar,
    "incremental": lambda workers: _analyse(False, workers),
    "compute": _compute,
    "sizes": _sizes,
}


def measure(mode: str, database_url: str, workers: int) -> dict:
    return run_child(__file__, [mode, "--workers", str(workers)], database_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/stockhub_bench_indicators"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.workers)
    if not DATA.exists():
        print(f"skipped: {DATA} not found")
        return
    # Without it the children would publish to the embedded Redis, which only `make up` starts.
    os.environ.setdefault("REDIS_URL", REDIS_URL)
    fresh_database(args.database_url)
    measure("import", args.database_url, args.workers)
    runs: dict[str, list[dict]] = {"full": [], "incremental": []}
    for run in range(args.runs):
        measure("reset", args.database_url, args.workers)
        runs["full"].append(measure("full", args.database_url, args.workers))
        measure("add-bar", args.database_url, args.workers)
        runs["incremental"].append(measure("incremental", args.database_url, args.workers))
        print(
            f"run {run + 1}: " + ", ".join(f"{k} {v[-1]['seconds']:.2f}s" for k, v in runs.items()),
            flush=True,
        )
    compute = measure("compute", args.database_url, args.workers)["result"]
    sizes = measure("sizes", args.database_url, args.workers)["result"]
    write_section("indicators", report(runs, compute, sizes, args.workers))


def report(runs: dict[str, list[dict]], compute: dict, sizes: dict, workers: int) -> str:
    sec = {k: median([r["seconds"] for r in v]) for k, v in runs.items()}
    rss = {k: max(r["rss_mb"] for r in v) for k, v in runs.items()}
    full, incremental = runs["full"][0]["result"], runs["incremental"][0]["result"]
    symbols, bars = compute["symbols"], compute["bars"]
    per_symbol = {k: v / symbols * 1000 for k, v in compute["seconds"].items()}

    def verdict(ok: bool) -> str:
        return "✅" if ok else "❌"

    lines = [
        "## Indicators and patterns (`bench/indicators.py`)",
        "",
        f"Every indicator (21 columns) and pattern (20 kinds) of `sp500_all_stocks_5yr.csv.gz` ({symbols} symbols, "
        f"{bars:,} daily bars) computed and stored in PostgreSQL by `analyze_tickers` on {workers} connections "
        f"(threads of one process). Median of {len(runs['full'])} runs, each in a fresh process.",
        "",
        "| run | time | stored | peak RSS | goal |",
        "|---|---:|---|---:|---|",
        f"| full: every bar of every symbol | {sec['full']:.1f} s ({full['bars_read'] / sec['full']:,.0f} bars/s) | "
        f"{full['rows']['new']:,} indicator rows, {full['events']['new']:,} pattern events | {rss['full']:.0f} MB | "
        f"≤ {GOALS['full']:.0f} s, ≤ {GOALS['rss_mb']} MB "
        f"{verdict(sec['full'] <= GOALS['full'] and rss['full'] <= GOALS['rss_mb'])} |",
        f"| incremental: one new bar per symbol | {sec['incremental']:.2f} s | {incremental['rows']['new']:,} new rows "
        f"(read {incremental['bars_read']:,} bars: the warm-up), {incremental['events']['new']:,} new events, "
        f"{incremental['published']:,} published | {rss['incremental']:.0f} MB | ≤ {GOALS['incremental']:.0f} s "
        f"{verdict(sec['incremental'] <= GOALS['incremental'] and rss['incremental'] <= GOALS['rss_mb'])} |",
        "",
        f"Stored: {sizes['rows']:,} indicator rows in {sizes['rows_mb']:.0f} MB (table and key), "
        f"{sizes['events']:,} events in {sizes['events_mb']:.0f} MB.",
        "",
        f"The maths alone (no database): CPU time per symbol, median of {COMPUTE_REPEATS}, one core:",
        "",
        "| indicators (the 19 columns TA-Lib also computes, 21 for StockHub) | ms per symbol | vs TA-Lib |",
        "|---|---:|---:|",
        f"| TA-Lib 0.8 (C), one call per indicator, numpy arrays in and out | {per_symbol['talib']:.3f} | 1× |",
        f"| StockHub, all symbols in one panel (`indicators.compute_panel`, arrays in and out) | "
        f"{per_symbol['maths']:.3f} | {per_symbol['maths'] / per_symbol['talib']:.1f}× "
        f"{verdict(per_symbol['maths'] <= GOALS['talib_ratio'] * per_symbol['talib'])} (goal ≤ {GOALS['talib_ratio']:.0f}×) |",
        f"| StockHub, the same with a long frame in and out (`indicators.compute(bars, by=...)`) | "
        f"{per_symbol['panel']:.3f} | {per_symbol['panel'] / per_symbol['talib']:.1f}× |",
        f"| StockHub, one symbol per call (what `analyze_ticker` does) | {per_symbol['one_by_one']:.3f} | "
        f"{per_symbol['one_by_one'] / per_symbol['talib']:.1f}× |",
        f"| `ta` 0.11, one symbol per call ({TA_SYMBOLS} symbols timed) | {per_symbol['ta']:.2f} | "
        f"{per_symbol['ta'] / per_symbol['talib']:.0f}× |",
        "",
        f"Patterns, all 20 kinds on the panel: {per_symbol['patterns']:.2f} ms per symbol "
        f"(TA-Lib's six candlestick functions alone: {per_symbol['talib_candles']:.3f} ms). Largest difference "
        f"from TA-Lib after 250 bars: {compute['talib_agreement']:.1e} of the value (or of the series' largest "
        "value for MACD, which crosses zero).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
