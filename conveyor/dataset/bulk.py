"""Bulk writing through Django's connection: COPY on PostgreSQL, chunked executemany on SQLite.

The importer writes raw SQL because the ORM's per-object work (signals, model instances,
RETURNING ids) is what makes million-row loads slow. These helpers hide the two backends'
differences: how values are adapted, how rows are streamed, how ids are reserved ahead.
"""

# ruff: noqa: S608 - SQL is composed only of model table/column names and module constants;
# every value travels as a query parameter.
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

# Rows buffered per COPY statement or executemany call: big enough to amortise the round
# trip, small enough that the buffer stays a few MB.
CHUNK_ROWS = 20_000
# Ids fetched from a PostgreSQL sequence per round trip.
ID_BATCH = 10_000
# SQLite page cache while importing (KiB; allocated only as used). Index inserts into
# 10M-row tables are cache-bound: 512 MiB made them ~30% faster than the default 64 MiB.
SQLITE_CACHE_KIB = 262_144

_TYPES = {
    "postgresql": {
        "id": "bigint",
        "int": "bigint",
        "text": "text",
        "ts": "timestamptz",
        "money": "numeric(14, 2)",
        "bool": "boolean",
    },
    # SQLite stores times as Django does (naive UTC text) and money as text, so the final
    # INSERT ... SELECT converts them exactly like an ORM save would.
    "sqlite": {
        "id": "integer",
        "int": "integer",
        "text": "text",
        "ts": "text",
        "money": "text",
        "bool": "integer",
    },
}


class Db:
    """One cursor on one connection for the whole import, plus the backend's adaptations."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        if connection.vendor not in _TYPES:
            raise NotImplementedError(
                f"the importer supports PostgreSQL and SQLite, not {connection.vendor}"
            )
        self.connection = connection
        self.vendor: str = connection.vendor
        self.pg = self.vendor == "postgresql"
        self.cursor: CursorWrapper = connection.cursor()
        self.types = _TYPES[self.vendor]
        self.cache_size: int | None = None
        if not self.pg:
            self.cache_size = self.scalar("PRAGMA cache_size")
            self.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")

    def close(self) -> None:
        if self.cache_size is not None:
            self.execute(f"PRAGMA cache_size = {int(self.cache_size)}")
        self.cursor.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        self.cursor.execute(sql, params)
        return int(self.cursor.rowcount)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.cursor.execute(sql, params)
        return list(self.cursor.fetchall())

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self.cursor.execute(sql, params)
        row = self.cursor.fetchone()
        return None if row is None else row[0]

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows of a big result without holding them all (a server-side cursor on PostgreSQL)."""
        with self.connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(CHUNK_ROWS):
                yield from rows

    def datetime(self, value: dt.datetime, text: str = "") -> Any:
        """An aware datetime as the backend stores it (SQLite: naive UTC text, as Django does).

        `text` is the ISO string `value` was parsed from; a UTC one is sliced instead of
        converted, which is most of the cost of a stage change row on SQLite.
        """
        if self.pg:
            return value
        if (
            ((len(text) == 25 and text.endswith("+00:00")) or (len(text) == 20 and text[19] == "Z"))
            and text[4] == "-"
            and text[7] == "-"
            and text[13] == ":"
            and text[16] == ":"
        ):
            return text[:10] + " " + text[11:19]
        return str(value.astimezone(dt.UTC).replace(tzinfo=None))

    def date(self, value: dt.date) -> Any:
        return value if self.pg else value.isoformat()

    @contextmanager
    def indexes_rebuilt_afterwards(self, table: str, *, incoming: int) -> Iterator[bool]:
        """Load `incoming` rows into `table` with its secondary indexes built once afterwards.

        When a load brings at least as many rows as the table holds, maintaining every
        non-unique index row by row costs far more than building it once from sorted data,
        and on PostgreSQL every foreign key fires a trigger per row where re-adding the
        constraint checks all rows in one join. So those indexes (and, on PostgreSQL, the
        table's foreign keys) are dropped first and recreated from their own definitions at
        the end. Unique indexes stay: they catch duplicate ids as rows arrive. All of it runs
        inside the import's transaction, so a failure rolls the DDL back with the rows.
        Yields whether the indexes were dropped.
        """
        if incoming <= 0 or incoming < int(self.scalar(f"SELECT COUNT(*) FROM {table}")):
            yield False
            return
        if self.pg:
            indexes = self.fetchall(
                """
                SELECT i.relname, pg_get_indexdef(i.oid)
                FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                WHERE x.indrelid = %s::regclass AND NOT x.indisunique AND NOT x.indisprimary
                """,
                [table],
            )
            foreign_keys = self.fetchall(
                """
                SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                WHERE conrelid = %s::regclass AND contype = 'f'
                """,
                [table],
            )
        else:
            indexes = self.fetchall(
                """
                SELECT name, sql FROM sqlite_master
                WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL
                  AND sql NOT LIKE 'CREATE UNIQUE%%'
                """,
                [table],
            )
            foreign_keys = []
        for name, _definition in foreign_keys:
            self.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _definition in indexes:
            self.execute(f'DROP INDEX "{name}"')
        yield True
        for _name, definition in indexes:
            self.execute(definition)
        for name, definition in foreign_keys:
            self.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')

    def create_temp(self, name: str, columns: Sequence[tuple[str, str]], pk: str = "") -> None:
        """A session-private staging table; `columns` are (name, kind of `_TYPES`)."""
        defs = [
            f"{column} {self.types[kind]}" + (" PRIMARY KEY" if column == pk else "")
            for column, kind in columns
        ]
        self.drop_temp(name)
        self.execute(f"CREATE TEMP TABLE {name} ({', '.join(defs)})")

    def drop_temp(self, name: str) -> None:
        # Schema-qualified, so a real table of the same name can never be the one dropped.
        schema = "pg_temp" if self.pg else "temp"
        self.execute(f"DROP TABLE IF EXISTS {schema}.{name}")

    def writer(
        self, table: str, columns: Sequence[str], constants: Sequence[Any] = ()
    ) -> BulkWriter:
        return BulkWriter(self, table, columns, constants)


class BulkWriter:
    """Buffers rows and writes them in chunks. `constants` are appended to every row.

    On PostgreSQL each chunk is one COPY (the connection must stay free between chunks for
    the id allocator's queries); on SQLite one executemany.
    """

    def __init__(
        self, db: Db, table: str, columns: Sequence[str], constants: Sequence[Any] = ()
    ) -> None:
        self.db = db
        self.constants = tuple(constants)
        names = ", ".join(columns)
        if db.pg:
            self.sql = f"COPY {table} ({names}) FROM STDIN"
        else:
            marks = ", ".join(["%s"] * len(columns))
            self.sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
        self.rows: list[tuple[Any, ...]] = []
        self.written = 0

    def add(self, row: tuple[Any, ...]) -> None:
        rows = self.rows
        rows.append(row + self.constants if self.constants else row)
        if len(rows) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        if self.db.pg:
            # COPY goes around Django's cursor wrapper; keep its error translation.
            with self.db.connection.wrap_database_errors:  # noqa: SIM117
                with self.db.cursor.cursor.copy(self.sql) as copy:
                    for row in rows:
                        copy.write_row(row)
        else:
            self.db.cursor.executemany(self.sql, rows)
        self.written += len(rows)


class IdAllocator:
    """Primary keys reserved before the rows are written, so later files can point at them.

    PostgreSQL: values drawn from the table's identity sequence (safe next to concurrent
    writers; a failed import leaves a harmless gap). SQLite: the import holds the database's
    write lock for its whole transaction, so counting up from the highest id used is safe;
    explicit ids also advance AUTOINCREMENT's sqlite_sequence.
    """

    def __init__(self, db: Db, model: type[models.Model]) -> None:
        self.db = db
        self.table = model._meta.db_table
        self.pool: list[int] = []
        self.next = 0
        if db.pg:
            self.sequence = str(
                db.scalar(
                    "SELECT pg_get_serial_sequence(%s, %s)", [self.table, model._meta.pk.column]
                )
            )
        else:
            used = db.scalar(f"SELECT MAX({model._meta.pk.column}) FROM {self.table}") or 0
            if db.scalar("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"):
                seq = db.scalar("SELECT seq FROM sqlite_sequence WHERE name = %s", [self.table])
                used = max(used, seq or 0)
            self.next = int(used) + 1

    def take(self) -> int:
        if not self.db.pg:
            value = self.next
            self.next += 1
            return value
        if not self.pool:
            rows = self.db.fetchall(
                "SELECT nextval(%s) FROM generate_series(1, %s)", [self.sequence, ID_BATCH]
            )
            self.pool = [row[0] for row in reversed(rows)]
        return self.pool.pop()


def model_defaults(
    model: type[models.Model], given: Sequence[str], connection: BaseDatabaseWrapper
) -> tuple[list[str], list[Any]]:
    """The columns the importer does not fill, with the model's defaults ready for the backend.

    Raw INSERTs skip Django's defaults; taking them from the model keeps the importer right
    when a field is added later. A new NOT NULL field without a default fails loudly here.
    """
    columns: list[str] = []
    values: list[Any] = []
    for field in model._meta.concrete_fields:
        if field.column in given or field.primary_key:
            continue
        value = field.get_default()
        if value is None and not field.null:
            raise RuntimeError(
                f"{model.__name__}.{field.name} has no default; the importer must fill it"
            )
        columns.append(field.column)
        values.append(field.get_db_prep_save(value, connection))
    return columns, values
