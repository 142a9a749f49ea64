"""What each CRM's deals export calls the fields Conveyor imports, and the column mapping.

A *mapping* says which column of the file holds each Conveyor field (`{"amount": "Deal -
Value"}`). Each source has a profile: for every field, the column names its standard deals
export uses (one row per deal, with the contact person's and company's columns). The mapping
starts from the profile's first name found in the file; the user may change any of it (`--map
field=Column`, a JSON mapping file, or the selects of the preview page). The generic `csv`
source's profile is the field names themselves, so a file with those headers needs no mapping.

Header names are compared ignoring case, spacing and ё. They are the exports' own words and
are never translated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_stubs_ext import StrPromise

from conveyor.core.errors import ServiceError
from conveyor.intake.crm_import.values import norm

__all__ = [
    "FIELDS",
    "PROFILES",
    "SOURCES",
    "Field",
    "MappingError",
    "Profile",
    "mapping_from_json",
    "mapping_from_pairs",
    "resolve_mapping",
]


class MappingError(ServiceError):
    """The column mapping does not fit the file (unknown field, missing column, ...)."""


@dataclass(frozen=True)
class Field:
    key: str
    label: str | StrPromise


FIELDS: tuple[Field, ...] = (
    Field("deal_id", gettext_lazy("Deal id in the other CRM")),
    Field("title", gettext_lazy("Deal title")),
    Field("amount", gettext_lazy("Amount")),
    Field("currency", gettext_lazy("Currency")),
    Field("status", gettext_lazy("Status (open, won, lost)")),
    Field("pipeline", gettext_lazy("Pipeline")),
    Field("stage", gettext_lazy("Stage")),
    Field("owner", gettext_lazy("Owner (user's e-mail or name)")),
    Field("loss_reason", gettext_lazy("Loss reason")),
    Field("created_at", gettext_lazy("Created")),
    Field("won_at", gettext_lazy("Won on")),
    Field("lost_at", gettext_lazy("Lost on")),
    Field("closed_at", gettext_lazy("Closed on")),
    Field("person_id", gettext_lazy("Person id in the other CRM")),
    Field("person_name", gettext_lazy("Person's name")),
    Field("person_first_name", gettext_lazy("Person's first name")),
    Field("person_last_name", gettext_lazy("Person's last name")),
    Field("person_email", gettext_lazy("E-mail")),
    Field("person_email2", gettext_lazy("Another e-mail")),
    Field("person_phone", gettext_lazy("Phone")),
    Field("person_phone2", gettext_lazy("Another phone")),
    Field("company", gettext_lazy("Company")),
    Field("source", gettext_lazy("Source (channel)")),
)
FIELD_KEYS = frozenset(field.key for field in FIELDS)
FIELD_LABELS = {field.key: field.label for field in FIELDS}


@dataclass(frozen=True)
class Profile:
    key: str
    label: str
    columns: dict[str, tuple[str, ...]]
    # HubSpot writes the associated contact as "Name (e-mail)" and several of them with ";".
    contact_with_email: bool = False
    # The CRM's default stages in their order: a missing stage of these names is created in
    # this order (an export lists deals, not the order of the stages they are in).
    stage_order: tuple[str, ...] = ()


PROFILES: dict[str, Profile] = {
    "pipedrive": Profile(
        key="pipedrive",
        label="Pipedrive",
        columns={
            "deal_id": ("Deal - ID",),
            "title": ("Deal - Title",),
            "amount": ("Deal - Value",),
            "currency": ("Deal - Currency", "Deal - Currency of Value"),
            "status": ("Deal - Status",),
            "pipeline": ("Deal - Pipeline",),
            "stage": ("Deal - Stage",),
            "owner": ("Deal - Owner", "Deal - Owner name"),
            "loss_reason": ("Deal - Lost reason",),
            "created_at": ("Deal - Deal created", "Deal - Creation date", "Deal - Add time"),
            "won_at": ("Deal - Won time",),
            "lost_at": ("Deal - Lost time",),
            "closed_at": ("Deal - Deal closed on", "Deal - Close time", "Deal - Closed on"),
            "person_id": ("Person - ID",),
            "person_name": ("Person - Name", "Deal - Contact person"),
            "person_email": ("Person - Email", "Person - Email - Work"),
            "person_email2": ("Person - Email - Home", "Person - Email - Other"),
            "person_phone": ("Person - Phone", "Person - Phone - Work", "Person - Phone - Mobile"),
            "person_phone2": (
                "Person - Phone - Mobile",
                "Person - Phone - Home",
                "Person - Phone - Other",
            ),
            "company": ("Organization - Name", "Deal - Organization"),
        },
        stage_order=(
            "Lead In",
            "Qualified",
            "Contact Made",
            "Needs Defined",
            "Demo Scheduled",
            "Proposal Made",
            "Negotiations Started",
        ),
    ),
    "hubspot": Profile(
        key="hubspot",
        label="HubSpot",
        columns={
            "deal_id": ("Record ID", "Deal ID"),
            "title": ("Deal Name",),
            "amount": ("Amount", "Amount in company currency"),
            "currency": ("Currency", "Deal currency code"),
            "pipeline": ("Pipeline",),
            "stage": ("Deal Stage",),
            "owner": ("Deal owner", "Owner"),
            "loss_reason": ("Closed Lost Reason", "Closed lost reason"),
            "created_at": ("Create Date",),
            "closed_at": ("Close Date",),
            "person_name": ("Associated Contact", "Contact name"),
            "person_first_name": ("First Name",),
            "person_last_name": ("Last Name",),
            "person_email": ("Email", "Associated Contact Email"),
            "person_phone": ("Phone Number",),
            "person_phone2": ("Mobile Phone Number",),
            "company": ("Associated Company", "Company name"),
        },
        contact_with_email=True,
        stage_order=(
            "Appointment Scheduled",
            "Qualified To Buy",
            "Presentation Scheduled",
            "Decision Maker Bought-In",
            "Contract Sent",
        ),
    ),
    "amocrm": Profile(
        key="amocrm",
        label="amoCRM / Kommo",
        columns={
            "deal_id": ("ID",),
            "title": ("Название сделки", "Сделка"),
            "amount": ("Бюджет", "Бюджет ₽", "Бюджет, ₽", "Сумма"),
            "pipeline": ("Воронка", "Название воронки"),
            # amoCRM's stage column holds the stage, or the outcome of a closed deal
            # ("Успешно реализовано", "Закрыто и не реализовано").
            "stage": ("Этап сделки", "Статус", "Этап", "Статус сделки"),
            "owner": ("Ответственный", "Ответственный за сделку"),
            "loss_reason": ("Причина отказа",),
            "created_at": ("Дата создания", "Дата создания сделки", "Создана"),
            "closed_at": ("Дата закрытия", "Дата закрытия сделки", "Закрыта"),
            "person_name": ("Полное имя контакта", "Основной контакт", "Контакт", "ФИО"),
            "person_email": ("Рабочий email", "Email", "E-mail"),
            "person_email2": ("Личный email", "Другой email"),
            "person_phone": ("Рабочий телефон", "Мобильный телефон", "Телефон"),
            "person_phone2": ("Мобильный телефон", "Домашний телефон", "Другой телефон"),
            "company": ("Компания", "Компания контакта", "Название компании"),
        },
        stage_order=(
            "Неразобранное",
            "Первичный контакт",
            "Переговоры",
            "Принимают решение",
            "Согласование договора",
        ),
    ),
    "csv": Profile(
        key="csv",
        label="CSV",
        columns={field.key: (field.key,) for field in FIELDS},
    ),
}
SOURCES = tuple(PROFILES)


def _column_index(header: list[str]) -> dict[str, str]:
    """Normalised header name -> the header cell (the first of repeated names)."""
    index: dict[str, str] = {}
    for cell in header:
        index.setdefault(norm(cell), cell)
    return index


def resolve_mapping(
    header: list[str], source: str, overrides: dict[str, str] | None = None
) -> dict[str, str]:
    """Field -> column of `header`: the profile's guess, then `overrides` ("" unmaps a field).

    Raises MappingError naming what does not fit.
    """
    profile = PROFILES.get(source)
    if profile is None:
        raise MappingError(
            _("Unknown source %(value)s: choose one of %(choices)s.")
            % {"value": repr(source), "choices": ", ".join(SOURCES)},
            field="source",
        )
    columns = _column_index(header)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for key, names in profile.columns.items():
        for name in names:
            cell = columns.get(norm(name))
            if cell is not None and cell not in taken:
                mapping[key] = cell
                taken.add(cell)
                break
    for key, column in (overrides or {}).items():
        if key not in FIELD_KEYS:
            raise MappingError(
                _("%(field)s is not a field that can be imported; the fields are: %(fields)s.")
                % {"field": repr(key), "fields": ", ".join(field.key for field in FIELDS)},
                field="mapping",
            )
        if not column.strip():
            mapping.pop(key, None)
            continue
        cell = columns.get(norm(column))
        if cell is None:
            raise MappingError(
                _(
                    "The file has no column %(column)s (mapped to %(field)s). Its columns "
                    "are: %(columns)s."
                )
                % {"column": repr(column), "field": key, "columns": ", ".join(header)},
                field="mapping",
            )
        mapping[key] = cell
    return mapping


def mapping_from_pairs(pairs: list[str]) -> dict[str, str]:
    """`field=Column` strings (as `--map` takes them) as a mapping."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        key, sep, column = pair.partition("=")
        if not sep:
            raise MappingError(
                _("%(value)s is not field=Column (e.g. amount=Deal value).")
                % {"value": repr(pair)},
                field="mapping",
            )
        mapping[key.strip()] = column.strip()
    return mapping


def mapping_from_json(text: str) -> dict[str, str]:
    """A mapping file: a JSON object {field: column}; null or "" leaves a field unmapped."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MappingError(
            _("The mapping file is not valid JSON: %(error)s") % {"error": exc.msg}, field="mapping"
        ) from exc
    if not isinstance(data, dict) or not all(
        isinstance(key, str) and (value is None or isinstance(value, str))
        for key, value in data.items()
    ):
        raise MappingError(
            _('The mapping file must be a JSON object such as {"amount": "Deal value"}.'),
            field="mapping",
        )
    return {key: value or "" for key, value in data.items()}
