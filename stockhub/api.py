"""What every API endpoint shares: one JSON error shape and the URL list of the apps' endpoints."""

from __future__ import annotations

from rest_framework.views import exception_handler as drf_exception_handler


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
