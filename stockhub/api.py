"""What every API endpoint shares: one JSON error shape, date parameters, query-string parsing."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import exception_handler as drf_exception_handler


class DateOrTimeField(serializers.DateTimeField):
    """An ISO datetime, or a bare date meaning that day's start (UTC)."""

    def to_internal_value(self, value):
        if isinstance(value, str) and len(value) == 10:
            value = f"{value}T00:00:00Z"
        return super().to_internal_value(value)


def validated_query(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    """The request's query string checked by `serializer_class`; a 400 that names the bad parameter if not."""
    query = serializer_class(data=request.query_params.dict())
    query.is_valid(raise_exception=True)
    return query.validated_data


def exception_handler(exc, context):
    """DRF's handler, with every error body shaped {"error": message, "detail": original}."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    if isinstance(detail, dict) and set(detail) == {"detail"}:
        message = str(detail["detail"])
    elif isinstance(detail, dict):
        message = "; ".join(
            f"{field}: {' '.join(map(str, errors)) if isinstance(errors, list) else errors}"
            for field, errors in detail.items()
        )
    else:
        message = " ".join(map(str, detail)) if isinstance(detail, list) else str(detail)
    response.data = {"error": message, "detail": detail}
    return response
