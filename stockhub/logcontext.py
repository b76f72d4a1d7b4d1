"""Log context: the job, run, symbol, queue and task a line of work belongs to, on every log record.

`with log_context(job_id=7, symbol="AAPL", queue="foreground"):` sets the fields for everything logged inside
the block (in this thread or task only: a contextvar), `ContextFilter` copies them onto each record, and
`JsonFormatter` writes one JSON object per line (STOCKHUB_LOG_FORMAT=json). Stdlib only, plus Celery's
current task for the `task` field.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType

from celery import current_task

# The context fields, in the order a JSON line shows them; a fixed set keeps the log schema stable.
FIELDS = ("job_id", "run_id", "symbol", "queue", "task")

_context: ContextVar[MappingProxyType] = ContextVar("stockhub_log_context", default=MappingProxyType({}))


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add `fields` (any of FIELDS; None means unknown and is skipped) to every record logged in the block.

    Nested blocks add to the outer one and the outer values come back when the inner block ends.
    """
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"log_context() takes only {', '.join(FIELDS)}; got {', '.join(sorted(unknown))}")
    known = {name: value for name, value in fields.items() if value is not None}
    token = _context.set(MappingProxyType({**_context.get(), **known}))
    try:
        yield
    finally:
        _context.reset(token)


def current_log_context() -> dict[str, object]:
    """The context fields known here and now: those of the enclosing log_context blocks, and the Celery task
    being run, if any."""
    context = dict(_context.get())
    if "task" not in context and current_task:
        context["task"] = current_task.name
    return context


class ContextFilter(logging.Filter):
    """Puts the context fields on every record passing the handler it is attached to (None when unknown);
    a field the caller already set with `extra=` is left alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current_log_context()
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, context.get(name))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the known context fields,
    and the traceback as `exception` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)
