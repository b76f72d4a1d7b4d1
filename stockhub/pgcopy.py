"""PostgreSQL's binary COPY format to and from numpy arrays, for bulk reads and writes of fixed-width rows.

A binary COPY row is a field count, then (length, big-endian value) per field, so rows of bigint, float8
and timestamptz map onto one numpy structured dtype: building or parsing 600k rows takes ~50 ms where
Python tuples take seconds, and floats cross over bit-exact. Used for bars (ingest) and indicator rows
(analysis).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from django.db import connection

# column kind -> numpy type of its value; timestamptz is microseconds since 2000-01-01 UTC
KINDS = {"bigint": ">i8", "float8": ">f8", "timestamptz": ">i8"}
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER = _SIGNATURE + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_TRAILER = (-1).to_bytes(2, "big", signed=True)
_PG_EPOCH_US = 946_684_800 * 1_000_000


def _row_type(columns: list[tuple[str, str]]) -> np.dtype:
    fields = [("fields", ">i2")]
    for name, kind in columns:
        fields += [(f"{name}__len", ">i4"), (name, KINDS[kind])]
    return np.dtype(fields)


class Payload:
    """A binary COPY payload read straight out of the row array (no copy of the whole payload is made)."""

    def __init__(self, rows: np.ndarray) -> None:
        self._parts = [memoryview(_HEADER), memoryview(rows).cast("B"), memoryview(_TRAILER)]
        self._part, self._offset = 0, 0

    def read(self, size: int = -1) -> bytes:
        while self._part < len(self._parts):
            part = self._parts[self._part]
            if self._offset < len(part):
                end = len(part) if size is None or size < 0 else self._offset + size
                chunk = bytes(part[self._offset : end])
                self._offset += len(chunk)
                return chunk
            self._part, self._offset = self._part + 1, 0
        return b""


def encode(frame: pd.DataFrame, columns: list[tuple[str, str]]) -> Payload:
    """`frame`'s `columns` ((name, kind) pairs) as a binary COPY payload. Float NaN is sent as NaN (write
    NULLIF(column, 'NaN') in the statement reading the staged rows to store NULL); no other NULLs."""
    rows = np.empty(len(frame), dtype=_row_type(columns))
    rows["fields"] = len(columns)
    for name, kind in columns:
        rows[f"{name}__len"] = 8
        if kind == "timestamptz":
            rows[name] = frame[name].to_numpy(dtype="datetime64[us]").astype("int64") - _PG_EPOCH_US
        else:
            rows[name] = frame[name].to_numpy(dtype="int64" if kind == "bigint" else "float64")
    return Payload(rows)


def decode(payload: bytes, columns: list[tuple[str, str]]) -> pd.DataFrame:
    """A binary COPY result of non-NULL `columns` as a frame (timestamptz as UTC datetimes)."""
    if not payload.startswith(_SIGNATURE):
        raise ValueError("not a PostgreSQL binary COPY payload")
    extension = int.from_bytes(payload[15:19], "big")
    body = memoryview(payload)[19 + extension : len(payload) - len(_TRAILER)]
    rows = np.frombuffer(body, dtype=_row_type(columns))
    frame = {}
    for name, kind in columns:
        if (rows[f"{name}__len"] != 8).any():
            raise ValueError(f"column {name} holds NULLs, which decode() does not read")
        values = rows[name].astype(KINDS[kind].replace(">", "<"))
        if kind == "timestamptz":
            values = pd.to_datetime(values + _PG_EPOCH_US, unit="us", utc=True)
        frame[name] = values
    return pd.DataFrame(frame)


def read(query: str, params: list | dict, columns: list[tuple[str, str]]) -> pd.DataFrame:
    """Run `query` through COPY ... TO STDOUT (FORMAT binary); ~10x faster than fetching Python tuples."""
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        sql = cursor.mogrify(query, params).decode()
        cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT binary)", buffer)
    return decode(buffer.getvalue(), columns)


def write(table: str, payload: Payload | io.TextIOBase, *, binary: bool = True) -> None:
    """COPY a payload into `table`: binary, or CSV text (a text file object) when binary=False."""
    with connection.cursor() as cursor:
        fmt = "binary" if binary else "csv"
        cursor.copy_expert(f"COPY {table} FROM STDIN WITH (FORMAT {fmt})", payload)
