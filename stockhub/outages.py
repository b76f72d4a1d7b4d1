"""Telling a database outage (server restarted, connection cut or refused) from a bug, and waiting one out.

An outage is nobody's fault in the work at hand: the work is put back to run again, never failed with an
error code. A process whose connection was cut must also drop it, because Django reconnects only once the
old connection is closed.
"""

from __future__ import annotations

import logging
import time

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

OUTAGE_ERRORS = (OperationalError, InterfaceError)
# A PostgreSQL restart takes about a second, a failover tens of seconds; past this the work waits for the
# reconciler (its lease ends) instead of holding a worker process.
OUTAGE_WAIT_SECONDS = 30.0


def is_outage(error: BaseException | None) -> bool:
    """True when `error`, or an error it was raised from (StorageError wraps one), says the database went away."""
    while error is not None:
        if isinstance(error, OUTAGE_ERRORS):
            return True
        error = error.__cause__
    return False


def wait_for_database(*, seconds: float = OUTAGE_WAIT_SECONDS) -> bool:
    """Drop this thread's connection and reconnect until the database answers; False after `seconds`."""
    deadline = time.monotonic() + seconds
    delay = 0.2
    while True:
        connection.close()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except OUTAGE_ERRORS as error:
            if time.monotonic() + delay > deadline:
                logger.warning("database still unreachable after %.0fs: %s", seconds, error)
                connection.close()
                return False
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
