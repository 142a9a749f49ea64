"""What the browser tests share: Debian's Chromium, where screenshots go, the skip rule, and
the login step. The `page` and `demo_company` fixtures are in conveyor/web/tests/conftest.py.

Outside CI a browser test skips with a clear line when Chromium is missing; under CI (`CI` set)
it runs and fails if Chromium cannot start.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
PASSWORD = "browser-Test-pass-42"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

NEEDS_CHROMIUM = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Chromium is not installed (Debian package `chromium`); browser tests skipped",
)
# The marks of a browser test module: a live server needs committed data, and the skip.
BROWSER = [pytest.mark.django_db(transaction=True), NEEDS_CHROMIUM]


def log_in(page: Any, base: str, email: str = "boss@example.com", password: str = PASSWORD) -> None:
    """Log in through the login form."""
    page.goto(f"{base}/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
