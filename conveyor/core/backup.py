"""Backup and restore of the whole database, with each engine's own tools.

- SQLite: the online backup API (`sqlite3.Connection.backup`), which copies a consistent
  snapshot page by page while the app keeps running; restore copies a backup file back the
  same way, in one step, so readers never see half a database.
- PostgreSQL: `pg_dump -Fc` (custom format: compressed, restorable selectively) and
  `pg_restore --clean --if-exists --single-transaction`, so a failed restore changes nothing.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from conveyor.core.errors import ServiceError

SQLITE_SUFFIX = ".sqlite3"
POSTGRES_SUFFIX = ".dump"
# SQLite's header: a restore refuses anything else rather than overwrite the database with it.
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"


def default_path() -> Path:
    suffix = SQLITE_SUFFIX if connection.vendor == "sqlite" else POSTGRES_SUFFIX
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return Path(settings.DATA_DIR) / "backups" / f"conveyor-{stamp}{suffix}"


def _pg_env_and_args() -> tuple[dict[str, str], list[str]]:
    params: dict[str, Any] = connection.get_connection_params()
    env = dict(os.environ)
    if params.get("password"):
        env["PGPASSWORD"] = str(params["password"])
    args = []
    for flag, key in (("--host", "host"), ("--port", "port"), ("--username", "user")):
        if params.get(key):
            args += [flag, str(params[key])]
    args += ["--dbname", str(params.get("dbname") or connection.settings_dict["NAME"])]
    return env, args


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ServiceError(
            _("%(tool)s is not installed; install the PostgreSQL client tools.") % {"tool": name}
        )
    return found


def backup_create(*, path: Path | None = None) -> Path:
    """Write a backup of the current database to `path` (default under DATA_DIR/backups)."""
    path = path or default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise ServiceError(_("%(path)s exists; choose another file.") % {"path": path})
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        source = connection.connection
        target = sqlite3.connect(path)
        try:
            source.backup(target)
        finally:
            target.close()
    elif connection.vendor == "postgresql":
        env, args = _pg_env_and_args()
        result = subprocess.run(  # noqa: S603 - fixed tool, arguments from our own settings
            [_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(path), *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            path.unlink(missing_ok=True)
            raise ServiceError(_("pg_dump failed: %(error)s") % {"error": result.stderr.strip()})
    else:
        raise ServiceError(_("Backups support SQLite and PostgreSQL only."))
    path.chmod(0o600)  # the whole client base is in it
    return path


def _check_kind(path: Path) -> None:
    if not path.is_file():
        raise ServiceError(_("No backup file at %(path)s.") % {"path": path})
    with path.open("rb") as file:
        head = file.read(16)
    expected = SQLITE_MAGIC if connection.vendor == "sqlite" else PG_MAGIC
    if not head.startswith(expected):
        raise ServiceError(
            _("%(path)s is not a %(engine)s backup of Conveyor; nothing was changed.")
            % {"path": path, "engine": connection.vendor}
        )


def backup_restore(*, path: Path) -> None:
    """Replace the current database's content with the backup at `path`, all or nothing."""
    _check_kind(path)
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            source.backup(connection.connection)
        finally:
            source.close()
    else:
        env, args = _pg_env_and_args()
        connection.close()  # our own session must not hold locks the restore needs
        result = subprocess.run(  # noqa: S603 - fixed tool, arguments from our own settings
            [
                _tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                *args,
                str(path),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(
                _("pg_restore failed, nothing was changed: %(error)s")
                % {"error": result.stderr.strip()}
            )
