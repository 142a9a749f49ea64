"""The pipeline board: a column per stage with its open deals, filters, a page of cards per
column at a time, and the moves made by dragging a card (the deal page's own forms and services
do the work; these views answer with the fragments the board swaps in)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy
from django.views.decorators.http import require_GET, require_POST

from conveyor.accounts.models import User
from conveyor.analytics.selectors import managers_for
from conveyor.core.errors import ConflictError, PermissionDenied, ServiceError
from conveyor.core.money import format_money
from conveyor.people.models import Temperature
from conveyor.pipelines.models import Deal, Pipeline, Segment, Stage
from conveyor.pipelines.selectors import pipelines_for
from conveyor.touches.models import Channel
from conveyor.touches.selectors import (
    BoardFilter,
    Column,
    Cursor,
    board,
    board_card,
    board_loss_reasons,
    board_page,
    board_sources,
    board_totals,
    rotting_deals,
    stalled_deals,
    visible_deal,
)
from conveyor.web.views.deals import ACTIONS

# Rows per list on the attention page; the rest is counted, and the lists link to the deals.
ATTENTION_ROWS = 200

# What a card dropped on the board can do: the deal page's own actions, forms and services.
BOARD_ACTIONS = ("move", "win", "lose")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("web:board")


class BoardFilterForm(forms.Form):
    """The board's filter, read from the query string; the choices are what the viewer may
    pick (a head's own teams' people as owners, only segments that have a board)."""

    segment = forms.TypedChoiceField(label=gettext_lazy("Segment"), coerce=int, required=False)
    owner = forms.TypedChoiceField(
        label=pgettext_lazy("person responsible for a deal", "Owner"), coerce=int, required=False
    )
    source = forms.ChoiceField(label=gettext_lazy("Source"), required=False)
    temperature = forms.ChoiceField(
        label=gettext_lazy("Temperature"),
        choices=[("", gettext_lazy("Any")), *Temperature.choices],
        required=False,
    )
    q = forms.CharField(
        label=gettext_lazy("Search"),
        max_length=100,
        required=False,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": gettext_lazy("Name, e-mail or phone")}
        ),
    )

    def __init__(
        self,
        data: QueryDict,
        *,
        segments: list[Segment],
        owners: list[User],
        sources: list[str],
    ) -> None:
        super().__init__(data)
        self.owners = {user.pk: user for user in owners}
        self.segments = {segment.pk: segment for segment in segments}
        self.fields["segment"].choices = [  # type: ignore[attr-defined]
            ("", _("All segments")),
            *((segment.pk, segment.name) for segment in segments),
        ]
        self.fields["owner"].choices = [  # type: ignore[attr-defined]
            ("", _("Everyone")),
            *((user.pk, user.get_full_name()) for user in owners),
        ]
        self.fields["source"].choices = [  # type: ignore[attr-defined]
            ("", _("Any")),
            *((source, source) for source in sources),
        ]
        self.fields["segment"].widget.attrs["data-autosubmit"] = ""
        # A manager sees only their own deals: an owner filter would offer nobody else.
        self.show_owner = len(owners) > 1
        self.is_valid()

    def value(self, name: str) -> Any:
        """The field's cleaned value; a value that did not validate counts as not given."""
        return self.cleaned_data.get(name) if name not in self.errors else None

    @property
    def chosen_segment(self) -> Segment | None:
        return self.segments.get(self.value("segment") or 0)

    def board_filter(self) -> BoardFilter:
        return BoardFilter(
            owner=self.owners.get(self.value("owner") or 0),
            source=self.value("source") or "",
            temperature=self.value("temperature") or "",
            search=(self.value("q") or "").strip(),
        )

    def query(self) -> str:
        """The valid filter values as a query string ("" when nothing is filtered)."""
        pairs = [(key, self.value(key)) for key in self.fields]
        return urlencode([(key, value) for key, value in pairs if value not in (None, "")])


@dataclass(frozen=True)
class BoardColumn:
    """A column as the page shows it: the selector's column, its sum as text and where
    "Show more" goes."""

    stage: Stage
    count: int
    total: Decimal
    total_text: str
    cards: list[Deal]
    more_url: str


def _column_totals(totals: dict[int, tuple[int, Decimal]], stage_id: int) -> tuple[int, str]:
    count, total = totals.get(stage_id, (0, Decimal(0)))
    return count, _total_text(total)


def _total_text(total: Decimal) -> str:
    """A column's sum in the account's currency (the one sums are kept in, as on the
    dashboard), rounded to a whole amount."""
    return format_money(total, settings.CONVEYOR_CURRENCY, whole=True)


def as_cards(deals: list[Deal]) -> list[Deal]:
    """Give each deal what its card prints: the deal page's address, the amount, days in the
    stage, the temperature and the next step's date, worked out here once per request.

    A column's cards are one template loop (no `{% include %}` per card); `{% url %}`,
    `{% blocktranslate %}` and the filters per card cost several times what these lines do,
    and a board shows ~120 cards (bench/README.md, Board).
    """
    prefix, _zero, suffix = reverse("web:deal", args=[0]).rpartition("0")
    temperatures = {value: str(label) for value, label in Temperature.choices}
    now = timezone.now()
    for deal in deals:
        days = max((now - deal.stage_entered_at).days, 0)
        due = deal.next_task_due  # type: ignore[attr-defined]
        deal.card_url = f"{prefix}{deal.pk}{suffix}"  # type: ignore[attr-defined]
        deal.card_amount = format_money(deal.amount, deal.currency, whole=True)  # type: ignore[attr-defined]
        deal.card_days = ngettext(  # type: ignore[attr-defined]
            "%(days)s day in stage", "%(days)s days in stage", days
        ) % {"days": days}
        deal.card_temperature = temperatures.get(deal.person.temperature, "")  # type: ignore[attr-defined]
        deal.card_due = (  # type: ignore[attr-defined]
            date_format(timezone.localtime(due), "SHORT_DATE_FORMAT") if due else ""
        )
    return deals


def _with_query(url: str, query: str, **extra: str) -> str:
    parts = [query] if query else []
    if extra:
        parts.append(urlencode(extra))
    return f"{url}?{'&'.join(parts)}" if parts else url


def cursor_param(cursor: Cursor) -> str:
    """A cursor as `<microseconds since the epoch>.<deal id>`: exact, and safe in a URL."""
    at, pk = cursor
    micros = (at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    return f"{micros}.{pk}"


def _parse_cursor(value: str) -> Cursor | None:
    micros, _sep, pk = value.partition(".")
    try:
        at = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(micros))
        return (at, int(pk))
    except (ValueError, OverflowError):
        return None


def _segments(pipelines: list[Pipeline]) -> list[Segment]:
    """The segments of these pipelines (their `segment` joined), by name."""
    found = {p.segment_id: p.segment for p in pipelines if p.segment is not None}
    return sorted(found.values(), key=lambda segment: segment.name)


def _filter_form(request: HttpRequest, user: User, segments: list[Segment]) -> BoardFilterForm:
    return BoardFilterForm(
        request.GET,
        segments=segments,
        owners=list(managers_for(user)),
        sources=board_sources(),
    )


def _more_url(pipeline: Pipeline, stage: Stage, cursor: Cursor, query: str) -> str:
    url = reverse("web:board-cards", args=[pipeline.pk, stage.pk])
    return _with_query(url, query, after=cursor_param(cursor))


def _board_url(pipeline: Pipeline, query: str) -> str:
    return _with_query(reverse("web:board-pipeline", args=[pipeline.pk]), query)


@login_required
@require_GET
def board_view(request: HttpRequest, pipeline_id: int | None = None) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    pipelines = list(pipelines_for(user).select_related("segment"))
    if not pipelines:
        return render(request, "web/board/empty.html")
    form = _filter_form(request, user, _segments(pipelines))
    segment = form.chosen_segment
    shown = [p for p in pipelines if segment is None or p.segment_id == segment.pk]
    pipeline = next((p for p in shown if p.pk == pipeline_id), None)
    if pipeline is None:
        if pipeline_id is not None and not any(p.pk == pipeline_id for p in pipelines):
            raise Http404
        # No pipeline named, or one of another segment than the one just picked.
        pipeline = shown[0] if shown else None
    query = form.query()
    context: dict[str, Any] = {
        "form": form,
        "pipelines": shown,
        "pipeline": pipeline,
        "filter_query": query,
        "channels": Channel.choices,
    }
    if pipeline is not None:
        stages = list(pipeline.stages.all())  # prefetched, open stages in order
        columns = board(pipeline=pipeline, user=user, filters=form.board_filter(), stages=stages)
        context.update(
            columns=[_column_view(pipeline, column, query) for column in columns],
            back=_board_url(pipeline, query),
            loss_reasons=board_loss_reasons(pipeline),
        )
    return render(request, "web/board/board.html", context)


def _column_view(pipeline: Pipeline, column: Column, query: str) -> BoardColumn:
    cursor = column.next_cursor
    return BoardColumn(
        stage=column.stage,
        count=column.count,
        total=column.total,
        total_text=_total_text(column.total),
        cards=as_cards(column.cards),
        more_url=_more_url(pipeline, column.stage, cursor, query) if cursor else "",
    )


@login_required
@require_GET
def board_cards_view(request: HttpRequest, pipeline_id: int, stage_id: int) -> HttpResponse:
    """The next page of one column: the cards and the next "Show more" as a fragment for htmx,
    or a page of their own without JavaScript."""
    user: User = request.user  # type: ignore[assignment]
    pipelines = list(pipelines_for(user).select_related("segment"))
    pipeline = next((p for p in pipelines if p.pk == pipeline_id), None)
    stage = next((s for s in pipeline.stages.all() if s.pk == stage_id), None) if pipeline else None
    if pipeline is None or stage is None:
        raise Http404
    form = _filter_form(request, user, _segments(pipelines))
    after = _parse_cursor(request.GET.get("after", ""))
    page = board_page(
        pipeline=pipeline, stage=stage, user=user, filters=form.board_filter(), after=after
    )
    query = form.query()
    context = {
        "pipeline": pipeline,
        "stage": stage,
        "cards": as_cards(page.cards),
        "more_url": _more_url(pipeline, stage, page.next_cursor, query) if page.next_cursor else "",
        "back": _board_url(pipeline, query),
    }
    fragment = request.headers.get("HX-Request") == "true"
    template = "web/board/_cards.html" if fragment else "web/board/column.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _refused(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "web/board/_refused.html", {"message": message}, status=status)


@login_required
@require_POST
def board_deal_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """A card dropped on another stage, on Won or on Lost: the deal page's form and service for
    that action. Answers with the moved card (none after a win or loss) and the new count and
    sum of the columns it touched; a refusal (400, 403, 409 for someone else's change in the
    meantime) answers with the reason and changes nothing."""
    if action not in BOARD_ACTIONS:
        raise Http404
    user: User = request.user  # type: ignore[assignment]
    try:
        deal = visible_deal(user, pk)
    except Deal.DoesNotExist as exc:
        raise Http404 from exc
    form_class, perform = ACTIONS[action]
    form = form_class(request.POST, deal=deal)
    if not form.is_valid():
        errors = [str(error) for field_errors in form.errors.values() for error in field_errors]
        return _refused(request, " ".join(errors), 400)
    left = deal.stage_id
    try:
        perform(deal, user, form.cleaned_data)
    except ConflictError as error:
        return _refused(request, error.message, 409)
    except PermissionDenied as error:
        return _refused(request, error.message, 403)
    except ServiceError as error:
        return _refused(request, error.message, 400)
    card = board_card(user=user, pk=deal.pk) if action == "move" else None
    touched = [left] if card is None else [left, card.stage_id]
    # The board's filter, to count the columns as the board shows them (the segment only
    # switches the list of pipelines, so none is offered here).
    pipeline = deal.pipeline
    filters = _filter_form(request, user, [])
    totals = board_totals(
        pipeline=pipeline, user=user, filters=filters.board_filter(), stage_ids=touched
    )
    return render(
        request,
        "web/board/_moved.html",
        {
            "cards": as_cards([card]) if card else [],
            "totals": [(stage_id, *_column_totals(totals, stage_id)) for stage_id in touched],
        },
    )


@login_required
def attention_view(request: HttpRequest) -> HttpResponse:
    """Deals that need someone: no next step planned (stalled), or too long in their stage."""
    user: User = request.user  # type: ignore[assignment]
    stalled = stalled_deals(user)
    rotting = rotting_deals(user, timezone.now())
    return render(
        request,
        "web/board/attention.html",
        {
            "stalled": list(stalled[:ATTENTION_ROWS]),
            "stalled_count": stalled.count(),
            "rotting": list(rotting[:ATTENTION_ROWS]),
            "rotting_count": rotting.count(),
        },
    )
