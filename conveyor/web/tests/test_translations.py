"""Every user-facing message is translated into Russian and Bulgarian.

Extracts the messages afresh (as `makemessages` would) into a copy of the catalogues, so a new
string without a translation fails here, not in front of a user.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from pytest_django import Settings

LANGUAGES = ("ru", "bg")
IGNORE = [".venv/*", "var/*", "bench/*", "*/tests/*", "conveyor/testing/*", "node_modules/*"]


def _statistics(po_file: Path) -> str:
    result = subprocess.run(
        ["msgfmt", "--statistics", "--check-format", "-o", "/dev/null", str(po_file)],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stderr.strip()


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext (msgfmt) is not installed")
def test_every_message_is_translated(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # makemessages writes into any `locale` folder it meets while walking the sources, so it
    # runs over a copy of the source tree: the real catalogues are never touched.
    source = Path(settings.BASE_DIR) / "conveyor"
    shutil.copytree(
        source, tmp_path / "conveyor", ignore=shutil.ignore_patterns("__pycache__", "*.mo")
    )
    settings.LOCALE_PATHS = [tmp_path / "conveyor" / "locale"]
    monkeypatch.chdir(tmp_path)
    call_command(
        "makemessages",
        locale=list(LANGUAGES),
        ignore_patterns=IGNORE,
        no_obsolete=True,
        verbosity=0,
    )
    for language in LANGUAGES:
        stats = _statistics(
            tmp_path / "conveyor" / "locale" / language / "LC_MESSAGES" / "django.po"
        )
        assert "untranslated" not in stats and "fuzzy" not in stats, (
            f"{language}: {stats}. Run `conveyor makemessages -l {language} "
            f"--ignore '.venv/*' --ignore 'var/*' --ignore 'bench/*' --ignore '*/tests/*'` "
            "and translate the new messages."
        )
        assert re.match(r"\d+ translated messages?\.$", stats), stats
