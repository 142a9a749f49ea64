"""A rendered page as a PDF or PNG file, printed by a headless Chromium on this server.

Chromium is the one renderer that draws our own HTML and CSS exactly as the browser shows them,
in every script (Cyrillic included), with no second layout to keep in step. It is optional:
without it (`CONVEYOR_CHROMIUM` unset and no `chromium` on the PATH) `SnapshotUnavailable`
says so and the page offers the other exports.

The page is written to a private temporary folder and opened from there, with no network:
its stylesheet is inlined by the caller, and a Content-Security-Policy in the document stops
any request or script even if some text slipped through escaping.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from django.conf import settings

# Seconds a print may take before we give up (a dashboard prints in about one).
TIMEOUT = 60
# Page width of a PNG, in CSS pixels.
PNG_WIDTH = 1280
# No request leaves the page: styles are inline, images may only be data: URLs.
DOCUMENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

FLAGS = (
    "--headless",
    "--no-sandbox",  # often run as root in a container, where the sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Otherwise Chromium phones home at start-up, which a closed network refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
)


class SnapshotUnavailable(RuntimeError):
    """No Chromium to print with, or it failed; the message says which."""


def chromium() -> str | None:
    configured = str(getattr(settings, "CONVEYOR_CHROMIUM", "") or "")
    if configured:
        return configured if Path(configured).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render(html: str, format: str, *, height: int = 1600) -> bytes:
    """`html` (a whole document) as PDF or PNG bytes. `height` is the PNG's height in CSS
    pixels (a screenshot is of the window, so the caller sizes it to the content)."""
    if format not in ("pdf", "png"):
        raise ValueError(format)
    binary = chromium()
    if binary is None:
        raise SnapshotUnavailable("Chromium is not installed on the server.")
    with tempfile.TemporaryDirectory(prefix="conveyor-snapshot-") as folder:
        work = Path(folder)
        page = work / "page.html"
        page.write_text(html, encoding="utf-8")
        out = work / f"out.{format}"
        if format == "pdf":
            target = [f"--print-to-pdf={out}", "--no-pdf-header-footer"]
        else:
            target = [f"--screenshot={out}", f"--window-size={PNG_WIDTH},{height}"]
        command = [binary, *FLAGS, f"--user-data-dir={work / 'profile'}", *target, page.as_uri()]
        try:
            # The command is ours: the binary from settings, fixed flags, our temporary files.
            finished = subprocess.run(command, capture_output=True, timeout=TIMEOUT, check=False)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired) as error:
            raise SnapshotUnavailable(f"Chromium did not finish: {error}") from error
        if not out.exists() or out.stat().st_size == 0:
            tail = finished.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise SnapshotUnavailable(f"Chromium wrote nothing ({'; '.join(tail)}).")
        return out.read_bytes()
