"""The people, deals and companies lists a sales team works from: search, filters, sorting by
column header, pages, a CSV export of every row the filter matches, and bulk edits.

Each list reads its whole state from the query string (so a filtered, sorted page can be
bookmarked and shared), parses it with a form (a bad value is shown on the form, never a
crash), asks the selectors for the rows and renders. A bulk edit posts the ticked ids (or "all
matching" with the list's query string) to one service, all or nothing, and comes back to the
list with what happened.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy
from django.views.decorators.http import require_GET, require_POST

from conveyor.accounts.models import User
from conveyor.core import csvsafe
from conveyor.core.db import BULK_LIMIT
from conveyor.core.errors import ServiceError
from conveyor.people.models import Company, Person
from conveyor.people.selectors import companies_list, people_list
from conveyor.people.services import person_update_bulk
from conveyor.pipelines.models import Deal
from conveyor.pipelines.selectors import deals_list, lifecycle_from, people_list_lifecycle
from conveyor.pipelines.services import deal_assign_bulk
from conveyor.web.forms import (
    BulkForm,
    CompanyFilterForm,
    DealBulkForm,
    DealFilterForm,
    ListForm,
    PeopleBulkForm,
    PeopleFilterForm,
)
from conveyor.web.views import export_query

# The list filters a bulk edit's "all matching" is read with.
F = TypeVar("F", PeopleFilterForm, DealFilterForm)
# Rows the CSV export writes per chunk of the streamed response.
CSV_CHUNK = 500

# (key, heading, sortable): the key is the selector's sort key.
PEOPLE_COLUMNS: list[tuple[str, Promise, bool]] = [
    ("name", gettext_lazy("Name"), True),
    ("email", gettext_lazy("E-mail"), True),
    ("phone", gettext_lazy("Phone"), True),
    ("company", gettext_lazy("Company"), True),
    ("owner", pgettext_lazy("person responsible for a deal", "Owner"), True),
    ("source", gettext_lazy("Source"), True),
    ("temperature", gettext_lazy("Temperature"), True),
    ("lifecycle", gettext_lazy("Lifecycle status"), False),
    ("created", gettext_lazy("First recorded"), True),
]
DEAL_COLUMNS: list[tuple[str, Promise, bool]] = [
    ("person", gettext_lazy("Client"), True),
    ("title", gettext_lazy("Title"), True),
    ("pipeline", gettext_lazy("Pipeline"), True),
    ("stage", gettext_lazy("Stage"), True),
    ("status", gettext_lazy("Status"), True),
    ("amount", gettext_lazy("Amount"), True),
    ("owner", pgettext_lazy("person responsible for a deal", "Owner"), True),
    ("opened", gettext_lazy("Opened"), True),
    ("closed", gettext_lazy("Closed"), True),
]
COMPANY_COLUMNS: list[tuple[str, Promise, bool]] = [
    ("name", gettext_lazy("Name"), True),
    ("people", gettext_lazy("People"), True),
    ("created", gettext_lazy("Created"), True),
]


@dataclass(frozen=True)
class Column:
    """A column heading: its link sorts by it (ascending first, then the other way)."""

    heading: str
    url: str
    direction: str  # "asc" or "desc" when the list is sorted by it, else ""


def _url(request: HttpRequest, **changes: object) -> str:
    """This list with its query string changed (a None value drops the key)."""
    query = request.GET.copy()
    query.pop("format", None)
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = str(value)
    encoded = query.urlencode()
    return f"{request.path}?{encoded}" if encoded else request.path


def _columns(
    request: HttpRequest, form: ListForm, columns: Sequence[tuple[str, Promise, bool]]
) -> list[Column]:
    sort = form.cleaned_data["sort"] if form.is_valid() else ""
    result = []
    for key, heading, sortable in columns:
        direction = "asc" if sort == key else "desc" if sort == f"-{key}" else ""
        url = _url(request, sort=f"-{key}" if direction == "asc" else key, page=None)
        result.append(Column(str(heading), url if sortable else "", direction))
    return result


def _page(request: HttpRequest, form: ListForm, rows: QuerySet[Any]) -> dict[str, Any]:
    """One page of `rows` (a page past the end shows the last one) and the links around it."""
    paginator = Paginator(rows, form.cleaned_data["per_page"])
    page: Page[Any] = paginator.get_page(form.cleaned_data.get("page"))
    last = paginator.num_pages
    return {
        "page": page,
        "first_url": _url(request, page=None) if page.number > 1 else "",
        "previous_url": _url(request, page=page.number - 1) if page.has_previous() else "",
        "next_url": _url(request, page=page.number + 1) if page.has_next() else "",
        "last_url": _url(request, page=last) if page.number < last else "",
    }


def _context(
    request: HttpRequest, form: ListForm, columns: Sequence[tuple[str, Promise, bool]]
) -> dict[str, Any]:
    """What every list page shows around its rows."""
    return {
        "form": form,
        "columns": _columns(request, form, columns),
        "query": _url(request).partition("?")[2],
        "csv_query": export_query(request, "csv"),
    }


def _local(value: dt.datetime | None) -> str:
    return timezone.localtime(value).isoformat() if value is not None else ""


def _csv_chunks(header: Sequence[object], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """The CSV text in chunks of CSV_CHUNK rows, every cell through `csvsafe` (formulas stay
    text)."""
    buffer = io.StringIO()
    out = csvsafe.writer(buffer)
    out.writerow(header)
    for number, row in enumerate(rows, start=1):
        out.writerow(row)
        if number % CSV_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _csv(
    name: str, columns: Sequence[tuple[str, Promise, bool]], rows: Iterable[Sequence[object]]
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        _csv_chunks([str(heading) for _key, heading, _sortable in columns], rows),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def _invalid(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """The list with its filter's errors and no rows."""
    return render(request, template, {**context, "page": None}, status=400)


# --- People ------------------------------------------------------------------------------------


def _people(viewer: User, form: PeopleFilterForm) -> QuerySet[Person]:
    return people_list_lifecycle(
        people_list(viewer, **form.filters()), lifecycle=form.cleaned_data["lifecycle"]
    )


def _person_csv_row(person: Person) -> list[object]:
    return [
        person.name,
        person.email,
        person.phone,
        person.company.name if person.company is not None else "",
        str(person.owner) if person.owner is not None else "",
        person.source,
        person.get_temperature_display(),
        lifecycle_from(person).label,
        _local(person.created_at),
    ]


@login_required
@require_GET
def people_view(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The people the reader may see, filtered, sorted and paged; `?format=csv` exports them."""
    viewer: User = request.user  # type: ignore[assignment]
    form = PeopleFilterForm(request.GET, viewer=viewer)
    context = _context(request, form, PEOPLE_COLUMNS)
    if not form.is_valid():
        return _invalid(request, "web/lists/people.html", context)
    people = _people(viewer, form)
    if request.GET.get("format") == "csv":
        return _csv("people", PEOPLE_COLUMNS, map(_person_csv_row, people.iterator(2000)))
    context.update(_page(request, form, people))
    context["rows"] = [(person, lifecycle_from(person)) for person in context["page"]]
    context["company"] = form.cleaned_data.get("company")
    context["bulk_form"] = PeopleBulkForm(auto_id="bulk-%s")
    context["without_company_url"] = _url(request, company=None, page=None)
    return render(request, "web/lists/people.html", context)


# --- Deals -------------------------------------------------------------------------------------


def _deals(viewer: User, form: DealFilterForm) -> QuerySet[Deal]:
    return deals_list(viewer, **form.filters())


def _deal_csv_row(deal: Deal) -> list[object]:
    return [
        deal.person.name,
        deal.title,
        deal.pipeline.name,
        f"{deal.stage.position}. {deal.stage.name}",
        deal.get_status_display(),
        deal.amount,
        str(deal.owner) if deal.owner is not None else "",
        _local(deal.opened_at),
        _local(deal.closed_at),
    ]


@login_required
@require_GET
def deals_view(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The deals the reader may see, filtered, sorted and paged; `?format=csv` exports them."""
    viewer: User = request.user  # type: ignore[assignment]
    form = DealFilterForm(request.GET, viewer=viewer)
    context = _context(request, form, DEAL_COLUMNS)
    if not form.is_valid():
        return _invalid(request, "web/lists/deals.html", context)
    deals = _deals(viewer, form)
    if request.GET.get("format") == "csv":
        return _csv("deals", DEAL_COLUMNS, map(_deal_csv_row, deals.iterator(2000)))
    context.update(_page(request, form, deals))
    return render(request, "web/lists/deals.html", context)


# --- Companies ---------------------------------------------------------------------------------


def _company_csv_row(company: Company) -> list[object]:
    return [company.name, company.people_count, _local(company.created_at)]  # type: ignore[attr-defined]


@login_required
@require_GET
def companies_view(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The companies of the people the reader may see; each links to its people. Companies have
    no owner, so there is no owner filter and no bulk edit here."""
    viewer: User = request.user  # type: ignore[assignment]
    form = CompanyFilterForm(request.GET)
    context = _context(request, form, COMPANY_COLUMNS)
    if not form.is_valid():
        return _invalid(request, "web/lists/companies.html", context)
    companies = companies_list(viewer, **form.filters())
    if request.GET.get("format") == "csv":
        return _csv("companies", COMPANY_COLUMNS, map(_company_csv_row, companies.iterator(2000)))
    context.update(_page(request, form, companies))
    context["people_url"] = reverse("web:people")
    return render(request, "web/lists/companies.html", context)


# --- Bulk edits --------------------------------------------------------------------------------


def _back(list_name: str, form: BulkForm) -> str:
    """The list the bulk edit came from, with its filter (only ever a page of ours)."""
    query = QueryDict(form.data.get("query", ""))
    encoded = query.urlencode()
    return f"{reverse(list_name)}?{encoded}" if encoded else reverse(list_name)


def _report_form_errors(request: HttpRequest, form: BulkForm | ListForm) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else None
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else str(error))


def _bulk_ids(
    request: HttpRequest,
    form: BulkForm,
    filter_class: type[F],
    matching: Callable[[User, F], QuerySet[Any]],
) -> list[int] | None:
    """The rows a bulk edit changes: the ticked ids, or those of every row the list's filter
    (posted with the edit) matches. None, with the reason told, when the form or the filter is
    not valid or too many rows match."""
    if not form.is_valid():
        _report_form_errors(request, form)
        return None
    if not form.cleaned_data["all_matching"]:
        return list(form.cleaned_data["ids"])
    viewer: User = request.user  # type: ignore[assignment]
    filters = filter_class(QueryDict(form.cleaned_data["query"]), viewer=viewer)
    if not filters.is_valid():
        _report_form_errors(request, filters)
        return None
    ids = list(matching(viewer, filters).values_list("pk", flat=True)[: BULK_LIMIT + 1])
    if len(ids) > BULK_LIMIT:
        messages.error(
            request,
            _("More than %(limit)s rows match the filter: narrow it and try again.")
            % {"limit": BULK_LIMIT},
        )
        return None
    return ids


def _refused(request: HttpRequest, error: ServiceError) -> None:
    messages.error(request, _("Nothing was changed. %(reason)s") % {"reason": error.message})


@login_required
@require_POST
def people_bulk(request: HttpRequest) -> HttpResponse:
    """Set the owner and/or temperature of the ticked people (or all matching the filter)."""
    viewer: User = request.user  # type: ignore[assignment]
    form = PeopleBulkForm(request.POST)
    ids = _bulk_ids(request, form, PeopleFilterForm, _people)
    if ids is None:
        return redirect(_back("web:people", form))
    try:
        count = person_update_bulk(
            person_ids=ids,
            by=viewer,
            owner=form.cleaned_data["owner"],
            temperature=form.cleaned_data["temperature"],
        )
    except ServiceError as error:
        _refused(request, error)
    else:
        messages.success(
            request,
            ngettext("%(count)d person updated.", "%(count)d people updated.", count)
            % {"count": count},
        )
    return redirect(_back("web:people", form))


@login_required
@require_POST
def deals_bulk(request: HttpRequest) -> HttpResponse:
    """Hand the ticked deals (or all matching the filter) to another owner."""
    viewer: User = request.user  # type: ignore[assignment]
    form = DealBulkForm(request.POST)
    ids = _bulk_ids(request, form, DealFilterForm, _deals)
    if ids is None:
        return redirect(_back("web:deals", form))
    owner: User = form.cleaned_data["owner"]
    try:
        deals = deal_assign_bulk(deal_ids=ids, owner=owner, by=viewer)
    except ServiceError as error:
        _refused(request, error)
    else:
        messages.success(
            request,
            ngettext(
                "%(count)d deal handed over to %(owner)s.",
                "%(count)d deals handed over to %(owner)s.",
                len(deals),
            )
            % {"count": len(deals), "owner": owner},
        )
    return redirect(_back("web:deals", form))
