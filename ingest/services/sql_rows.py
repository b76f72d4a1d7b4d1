"""Models read by plain SQL on a worker's hot path, where the ORM spent more CPU building a query than the
database spent answering it: a related row's columns come aliased `<prefix><column>` in the same result and
are turned into a model instance here, each value converted as the ORM converts that column."""

from __future__ import annotations

from django.db import connection
from django.db.models import Field, Model


def aliased_columns(model: type[Model], *, table_alias: str, prefix: str) -> str:
    """`t.id AS ticker_id, t.symbol AS ticker_symbol, ...`: every column of `model`, for model_from_columns."""
    return ", ".join(
        f"{table_alias}.{field.column} AS {prefix}{field.column}" for field in model._meta.concrete_fields
    )


def model_from_columns(model: type[Model], row: object, *, prefix: str) -> Model:
    """The `model` instance whose columns `row` (a raw() result) holds as attributes `<prefix><column>`."""
    fields = model._meta.concrete_fields
    values = [as_read_by_the_orm(getattr(row, f"{prefix}{field.column}"), field) for field in fields]
    return model.from_db(connection.alias, [field.attname for field in fields], values)


def as_read_by_the_orm(value: object, model_field: Field) -> object:
    """A column value read by plain SQL, converted as the ORM converts `model_field`'s column (SQLite returns
    datetimes as text, JSON as a string)."""
    column = model_field.get_col(model_field.model._meta.db_table)
    for convert in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
        value = convert(value, column, connection)
    return value


def update_row(model: type[Model], pk: object, values: dict[str, object]) -> int:
    """UPDATE one row of `model` by primary key with `values` (field name -> value), each prepared as the ORM
    prepares it for saving, without building a query; returns the rows changed (0 or 1)."""
    fields = [model._meta.get_field(name) for name in values]
    assignments = ", ".join(f"{connection.ops.quote_name(field.column)} = %s" for field in fields)
    params = [field.get_db_prep_save(values[field.name], connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {model._meta.db_table} SET {assignments} WHERE {model._meta.pk.column} = %s",
            [*params, pk],
        )
        return cursor.rowcount
