"""Django's PostgreSQL backend with a health check that costs no round trip (ENGINE "stockhub.postgresql").

CONN_HEALTH_CHECKS tests a kept connection before the first query of each request and each task, with a
`SELECT 1`: on a busy server that round trip was as slow as the request's own query (a fifth of an API
request's time under load, sampled). What it is there to catch, a restart, an idle timeout or
pg_terminate_backend, makes the server write a last message and close the socket, and an idle socket with
something to read says so without asking: one `select()` call. Only then is the connection tested with
`SELECT 1` (and replaced when that fails); an idle socket with nothing to read is taken as alive.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        if self.connection is None or self.connection.closed:
            return False
        try:
            readable, _, _ = select.select([self.connection.fileno()], [], [], 0)
        except (OSError, ValueError):  # the descriptor is gone
            return False
        # Nothing arrived since the last reply: the server neither closed the connection nor said goodbye.
        # A connection that died silently (a host gone without a word) fails its next query either way.
        return not readable or super().is_usable()
