"""Locust users of bench/api_load.py (not run on its own): each user holds its own API token and asks, in
turn, for a year of one ticker's daily bars, the same year of its indicators, and its dashboard JSON.

Read from the environment: BENCH_API_USERS_FILE (JSON: {"tokens": [...], "symbols": [...], "start",
"end"}) and BENCH_API_WAIT (seconds between one user's requests; 0 means as fast as the server answers)."""

from __future__ import annotations

import itertools
import json
import os
import random
import time

from locust import task
from locust.contrib.fasthttp import FastHttpUser

SETUP = json.loads(open(os.environ["BENCH_API_USERS_FILE"]).read())
WAIT_SECONDS = float(os.environ.get("BENCH_API_WAIT", "1"))
_next_token = itertools.count()


class DashboardUser(FastHttpUser):
    def wait_time(self) -> float:
        """One request per WAIT_SECONDS per user whatever the response time, so N users make N / WAIT
        requests/s, each user at its own random phase. (Locust starts users in batches, one batch a second,
        and its constant_throughput keeps the phase a user was started at: all 200 users then sent their
        requests within ~100 ms of each other, one burst of 200 a second instead of 200 a second.)"""
        if WAIT_SECONDS <= 0:
            return 0.0
        self.next_start += WAIT_SECONDS
        return max(0.0, self.next_start - time.monotonic())

    def on_start(self) -> None:
        token = SETUP["tokens"][next(_next_token) % len(SETUP["tokens"])]
        self.headers = {"Authorization": f"Token {token}"}
        self.range = f"start={SETUP['start']}&end={SETUP['end']}"
        if WAIT_SECONDS > 0:
            time.sleep(random.uniform(0, WAIT_SECONDS))  # gevent's sleep: Locust patches time
        self.next_start = time.monotonic()

    @task
    def bars(self) -> None:
        symbol = random.choice(SETUP["symbols"])
        self.client.get(
            f"/api/bars/{symbol}?timeframe=daily&{self.range}",
            headers=self.headers,
            name="/api/bars/[symbol]",
        )

    @task
    def indicators(self) -> None:
        symbol = random.choice(SETUP["symbols"])
        self.client.get(
            f"/api/indicators/{symbol}?timeframe=daily&{self.range}",
            headers=self.headers,
            name="/api/indicators/[symbol]",
        )

    @task
    def dashboard(self) -> None:
        self.client.get("/api/tickers/portfolio", headers=self.headers, name="/api/tickers/portfolio")
