"""Personal data: everything recorded about one person (export) and the suppression list.

The export gathers the person's own row, company and referrals here; the rows of higher apps
(deals with their stage history, touches, tasks, leads) come from their receivers of
`person_exporting`, so this module imports no higher app. The document is one nested JSON
object; `export_csv` flattens it to a zip with one CSV per table.

Erasing a person is `people.services.person_erase`; it adds the person's contacts to the
suppression list kept here, which `intake.services.lead_receive` consults.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext_lazy

from conveyor.accounts.models import User
from conveyor.core import csvsafe
from conveyor.core.errors import ServiceError
from conveyor.people.models import Person, Suppression, SuppressionKind
from conveyor.people.selectors import people_for
from conveyor.people.signals import person_exporting

Row = dict[str, Any]


class ContactSuppressed(ServiceError):
    """The e-mail or phone belongs to an erased person: intake records nothing."""


def suppression_digest(value: str) -> str:
    """SHA-256 (hex) of an already normalised e-mail or phone."""
    return hashlib.sha256(value.encode()).hexdigest()


def suppressed_field(*, email: str, phone: str) -> str | None:
    """ "email" or "phone" when that normalised contact is on the suppression list, else None."""
    # Kinds are named like the fields, so the kind found is the field to report, e-mail first.
    wanted = {
        str(kind): suppression_digest(value)
        for kind, value in ((SuppressionKind.EMAIL, email), (SuppressionKind.PHONE, phone))
        if value
    }
    if not wanted:
        return None
    found = set(
        Suppression.objects.filter(digest__in=wanted.values()).values_list("kind", "digest")
    )
    return next((kind for kind, digest in wanted.items() if (kind, digest) in found), None)


SUPPRESSED_MESSAGES = {
    SuppressionKind.EMAIL: gettext_lazy(
        "This e-mail belongs to a person erased at their request; it is not recorded."
    ),
    SuppressionKind.PHONE: gettext_lazy(
        "This phone number belongs to a person erased at their request; it is not recorded."
    ),
}


def require_not_suppressed(*, email: str, phone: str) -> None:
    """Raise ContactSuppressed naming the field when either normalised contact is suppressed."""
    field = suppressed_field(email=email, phone=phone)
    if field is not None:
        raise ContactSuppressed(str(SUPPRESSED_MESSAGES[SuppressionKind(field)]), field=field)


def _value(value: object) -> object:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def record(obj: Model, **extra: object) -> Row:
    """A row's concrete fields (foreign keys as `<name>_id`) in JSON-ready values, plus `extra`."""
    row: Row = {
        field.attname: _value(field.value_from_object(obj)) for field in obj._meta.concrete_fields
    }
    row.update({key: _value(value) for key, value in extra.items()})
    return row


def person_export(*, person_id: int, user: User | None) -> dict[str, Any]:
    """Everything recorded about one person, as one JSON-ready document.

    `user` None is whoever operates the server (the command): the whole account. Otherwise the
    person must be visible to `user`; an invisible one raises Person.DoesNotExist like a missing
    one. The number of queries does not grow with the person's deals, touches or leads.
    """
    people = Person.objects.all() if user is None else people_for(user)
    person = people.select_related("company", "owner", "referred_by").get(pk=person_id)
    document: dict[str, Any] = {
        "exported_at": _value(timezone.now()),
        "person": record(
            person,
            owner_email=person.owner.email if person.owner else None,
            company=record(person.company) if person.company else None,
        ),
        "referred_by": (
            {"id": person.referred_by.pk, "name": person.referred_by.name}
            if person.referred_by
            else None
        ),
        "referrals": [
            {"id": pk, "name": name}
            for pk, name in person.referrals.order_by("pk").values_list("pk", "name")
        ],
    }
    for _receiver, sections in person_exporting.send(sender=Person, person=person):
        if isinstance(sections, dict):
            document.update(sections)
    return document


def export_json(document: dict[str, Any]) -> str:
    return json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)


def _tables(document: dict[str, Any]) -> dict[str, list[Row]]:
    """The document as flat tables: a list of row dicts nested in a row (a deal's stage changes)
    becomes its own table, whose rows already name their parent (`deal_id`)."""
    person = dict(document["person"])
    company = person.pop("company", None)
    tables: dict[str, list[Row]] = {"person": [person], "company": [company] if company else []}
    tables["referred_by"] = [document["referred_by"]] if document.get("referred_by") else []
    for name, rows in document.items():
        if name in ("exported_at", "person", "referred_by") or not isinstance(rows, list):
            continue
        table = tables.setdefault(name, [])
        for row in rows:
            flat: Row = {}
            for key, value in row.items():
                if isinstance(value, list) and all(isinstance(item, dict) for item in value):
                    tables.setdefault(key, []).extend(value)
                else:
                    flat[key] = value
            table.append(flat)
    return tables


def _cell(value: object) -> object:
    if isinstance(value, dict | list):
        return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)
    return value


def export_csv(document: dict[str, Any]) -> bytes:
    """A zip with one CSV per table (`person.csv`, `deals.csv`, `stage_changes.csv`, …), header
    row first, cells formula-safe; JSON fields (lead payload, UTM) as JSON text in one cell."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in _tables(document).items():
            columns: list[str] = []
            for row in rows:
                columns.extend(key for key in row if key not in columns)
            table = ([_cell(row.get(column)) for column in columns] for row in rows)
            archive.writestr(f"{name}.csv", csvsafe.to_csv(columns, table))
    return buffer.getvalue()
