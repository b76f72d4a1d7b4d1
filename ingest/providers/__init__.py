"""Market-data providers behind one interface (providers.base.Provider); `get_provider` picks one by name.

Each provider module is imported only when asked for, so yfinance (and its curl_cffi) loads only in a
process that really uses Yahoo.
"""

from __future__ import annotations

import importlib

from django.conf import settings

from ingest.errors import InvalidInput
from ingest.providers.base import Provider

# name -> "module:class"; the names are those STOCKHUB_PROVIDER accepts (stockhub.config.PROVIDERS)
PROVIDER_CLASSES = {
    "synthetic": "ingest.providers.synthetic:SyntheticProvider",
    "csv": "ingest.providers.csv:CsvProvider",
    "yfinance": "ingest.providers.yfinance:YFinanceProvider",
    "massive": "ingest.providers.massive:MassiveProvider",
}


def get_provider(name: str | None = None) -> Provider:
    """A new provider named `name`, or STOCKHUB_PROVIDER's; InvalidInput lists the valid names."""
    name = name or settings.STOCKHUB_PROVIDER
    if name not in PROVIDER_CLASSES:
        raise InvalidInput(f"provider {name!r} is unknown; choose one of: {', '.join(PROVIDER_CLASSES)}")
    module_name, _, class_name = PROVIDER_CLASSES[name].partition(":")
    provider = getattr(importlib.import_module(module_name), class_name)()
    if settings.STOCKHUB_PROVIDER_FAULTS:  # chaos tests only: see providers/faults.py
        from ingest.providers.faults import FaultyProvider, parse_faults

        provider = FaultyProvider(provider, parse_faults(settings.STOCKHUB_PROVIDER_FAULTS))
    return provider
