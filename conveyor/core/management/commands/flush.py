"""`conveyor flush`: Django's flush, which on SQLite also empties the append-only audit log.

Flushing erases the whole database. PostgreSQL does it with TRUNCATE, which the audit log's
row triggers do not see; SQLite deletes row by row, which they refuse. So on SQLite the
triggers are dropped, the tables emptied and the triggers created again, in one transaction:
a flush that fails leaves the triggers in place.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush
from django.db import connections, transaction

from conveyor.core.models import AuditEntry


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        database = options["database"]
        connection = connections[database]
        if connection.vendor != "sqlite":
            super().handle(**options)
            return
        with transaction.atomic(using=database), connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [AuditEntry._meta.db_table],
            )
            triggers = cursor.fetchall()
            for name, _sql in triggers:
                cursor.execute(f'DROP TRIGGER "{name}"')
            super().handle(**options)
            for _name, sql in triggers:
                cursor.execute(sql)
