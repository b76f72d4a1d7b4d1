"""Writes and workflows of the ingest app; other apps call these, never the models directly."""

from ingest.services.derive import derive_longer_bars
from ingest.services.imports import (
    ImportResult,
    StoreResult,
    fetch_and_store,
    import_bars_file,
    import_bars_frame,
    store_bars,
)
from ingest.services.storage import UpsertCounts, ticker_ids_for, upsert_bars

__all__ = [
    "ImportResult",
    "StoreResult",
    "UpsertCounts",
    "derive_longer_bars",
    "fetch_and_store",
    "import_bars_file",
    "import_bars_frame",
    "store_bars",
    "ticker_ids_for",
    "upsert_bars",
]
