"""The dashboard as a PDF or PNG file: its own page, printed by a headless Chromium
(`conveyor.core.snapshot`). Served by the dashboard page and `GET /api/v1/reports/dashboard`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils.translation import gettext

from conveyor.accounts.models import User
from conveyor.analytics.metrics.dashboard import own_dashboard
from conveyor.core import snapshot
from conveyor.core.snapshot import DOCUMENT_CSP

SNAPSHOT_TYPES = {"pdf": "application/pdf", "png": "image/png"}
STYLESHEET = "web/conveyor.css"


def dashboard_context(data: dict[str, Any] | None, viewer: User) -> dict[str, Any]:
    """What the dashboard's page and its print share besides the report's data."""
    attention = data["attention"] if data is not None else {}
    return {
        "title": gettext("My dashboard") if own_dashboard(viewer) else gettext("Dashboard"),
        "attention_lists": [
            (gettext("Deals with no next step"), attention.get("stalled_rows", [])),
            (gettext("Rotting deals"), attention.get("rotting_rows", [])),
        ],
        "data": data,
    }


def _height(data: dict[str, Any]) -> int:
    """The PNG's height in CSS pixels: a screenshot is of the window, so size it to the rows."""
    rows = sum(len(funnel["stages"]) + 3 for funnel in data["funnels"])
    rows += len(data["plan_fact"]["managers"]) + len(data["attention"]["stalled_rows"])
    rows += len(data["attention"]["rotting_rows"])
    return 700 + 34 * rows


def dashboard_snapshot(data: dict[str, Any], format: str, *, viewer: User) -> bytes:
    """The dashboard `data` as a PDF or PNG (SNAPSHOT_TYPES). The page is standalone: its
    stylesheet inline, no scripts, no requests. Raises snapshot.SnapshotUnavailable when this
    server has no Chromium or it failed."""
    if format not in SNAPSHOT_TYPES:
        raise ValueError(f"format must be one of {sorted(SNAPSHOT_TYPES)}")
    stylesheet = finders.find(STYLESHEET)
    assert isinstance(stylesheet, str), STYLESHEET
    css = Path(stylesheet).read_text(encoding="utf-8")
    document = render_to_string(
        "web/reports/dashboard_print.html",
        {**dashboard_context(data, viewer), "css": css, "csp": DOCUMENT_CSP},
    )
    return snapshot.render(document, format, height=_height(data))
