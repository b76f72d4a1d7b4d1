"""The fault-injecting provider wrapper used by the chaos suite (ingest/providers/faults.py)."""

from datetime import UTC, datetime

import pandas as pd

from ingest.errors import ProviderError
from ingest.providers.faults import FaultyProvider, parse_faults


class Steady:
    name = "steady"

    def fetch_bars(self, symbol, timeframe, start, end) -> pd.DataFrame:
        return pd.DataFrame({"close": [1.0]})


def test_a_seeded_fail_rate_fails_about_that_share_of_calls_even_with_a_provider_built_per_call():
    failures = 0
    for _ in range(1000):  # get_provider builds a new wrapper for every fetch
        provider = FaultyProvider(Steady(), parse_faults("fail_rate=0.2;seed=7"))
        try:
            provider.fetch_bars("AAPL", "daily", datetime(2020, 1, 1, tzinfo=UTC), datetime.now(UTC))
        except ProviderError as error:
            assert error.retryable
            failures += 1
    assert 150 <= failures <= 250


def test_latency_is_read_from_the_fault_string():
    assert parse_faults("latency_ms=300;bad_rows=IBM").latency_ms == 300
