"""Case-insensitive text lookups that fold Cyrillic (and every other script) on SQLite too.

SQLite's LIKE folds only ASCII letters, so on the default database `name__icontains="иван"`
missed "Иван Петров" and a company typed "ромашка" was not found as "Ромашка" —
for a CRM whose users write Russian and Bulgarian, search and de-duplication that depend on
how a name was capitalised. PostgreSQL's UPPER() already folds every script.

On SQLite only, and only when the value sought has a non-ASCII character, both sides are
lower-cased by Python's `str.lower` (a function registered on each new connection) before
LIKE compares them. An ASCII value needs no folding beyond LIKE's own, so the common search
keeps SQLite's native speed; the Python function is called once per row scanned otherwise.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.models import Field
from django.db.models.lookups import IContains, IEndsWith, IExact, IStartsWith, Lookup
from django.dispatch import receiver

FOLD = "conveyor_lower"


def _lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


@receiver(connection_created)
def _register_fold(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function(FOLD, 1, _lower, deterministic=True)


class _FoldsOnSqlite(Lookup):
    def as_sqlite(self, compiler: Any, connection: BaseDatabaseWrapper) -> tuple[str, list[Any]]:
        if not isinstance(self.rhs, str) or self.rhs.isascii() or self.bilateral_transforms:
            sql, params = self.as_sql(compiler, connection)
            return sql, list(params)
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        return (
            f"{FOLD}({lhs_sql}) LIKE {FOLD}({rhs_sql}) ESCAPE '\\'",
            [*lhs_params, *rhs_params],
        )


class UnicodeIExact(_FoldsOnSqlite, IExact):
    pass


class UnicodeIContains(_FoldsOnSqlite, IContains):
    pass


class UnicodeIStartsWith(_FoldsOnSqlite, IStartsWith):
    pass


class UnicodeIEndsWith(_FoldsOnSqlite, IEndsWith):
    pass


def register() -> None:
    """Put the folding lookups in place of Django's own for every field (CoreConfig.ready)."""
    for lookup in (UnicodeIExact, UnicodeIContains, UnicodeIStartsWith, UnicodeIEndsWith):
        Field.register_lookup(lookup)
