"""Rendered JSON answers kept in the web process's memory, so a repeated request skips its queries and its
serialisation. Keys hold everything an answer depends on, a ticker's data version among them
(ingest.models.DataVersion), so a write makes the old answers unreachable instead of having to find them.

Per process and bounded by STOCKHUB_API_CACHE_MB, least recently used first out. Not in Redis: that memory
is also the broker's and the locks' (docs/deploy.md: noeviction), and a year of one ticker's indicators is
~150 KB.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from django.conf import settings


class AnswerCache:
    """Bytes by key, least recently used dropped once the total passes the limit; safe across threads."""

    def __init__(self) -> None:
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get_or_build(self, key: Hashable, build: Callable[[], bytes]) -> bytes:
        """The bytes kept for `key`, or `build()`'s, kept for next time when they fit."""
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
                return body
        body = build()  # outside the lock: two threads may build one answer at once, and both are right
        limit = settings.STOCKHUB_API_CACHE_MB * 2**20
        if len(body) <= limit // 8:  # one huge answer must not empty the cache
            with self._lock:
                if key not in self._items:
                    self._items[key] = body
                    self._bytes += len(body)
                while self._bytes > limit:
                    _, dropped = self._items.popitem(last=False)
                    self._bytes -= len(dropped)
        return body

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


answers = AnswerCache()
