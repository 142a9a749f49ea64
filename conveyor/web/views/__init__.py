"""Web views, one module per domain. Each parses input, calls one service or selector, renders."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request: HttpRequest, target: str) -> str | None:
    """`target` when it is a page of this site (never an open redirect), else None."""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


def export_query(request: HttpRequest, format: str) -> str:
    """The page's own query (filters and options) asking for an export in `format`."""
    query = request.GET.copy()
    query["format"] = format
    return query.urlencode()
