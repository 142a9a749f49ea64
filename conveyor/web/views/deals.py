"""The deal page: its timeline, the actions that move it and its facts edited in place
(services do the work)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from conveyor.accounts.models import User
from conveyor.analytics.selectors import managers_for
from conveyor.core.errors import ServiceError
from conveyor.core.fields import max_length
from conveyor.core.selectors import audit_history
from conveyor.pipelines import services as deal_services
from conveyor.pipelines.models import Deal, DealStatus
from conveyor.pipelines.playbooks import playbook_state
from conveyor.pipelines.selectors import lifecycle_of
from conveyor.touches import services as touch_services
from conveyor.touches.models import Outcome, Touch, TouchKind
from conveyor.touches.selectors import (
    cadence_progress,
    deal_open_tasks,
    deal_timeline,
    rhythm,
    visible_deal,
)
from conveyor.web.forms import (
    DealActionForm,
    LoseForm,
    MoveForm,
    PlaybookCheckForm,
    ReopenForm,
    TaskForm,
    TouchForm,
    WinForm,
    add_service_error,
)
from conveyor.web.views import safe_next
from conveyor.web.views.inplace import (
    InPlaceField,
    inplace_error,
    inplace_fields,
    inplace_response,
    wants_fragment,
)

# After a closing touch: "advanced" offers the move to the next stage, "refused" the loss dialog.
OFFERS = {"move", "lose"}


def _deal_or_404(request: HttpRequest, pk: int) -> Deal:
    try:
        return visible_deal(request.user, pk)  # type: ignore[arg-type]
    except Deal.DoesNotExist as exc:
        raise Http404 from exc


def _next_stage_id(deal: Deal) -> int:
    following = (
        deal.pipeline.stages.filter(is_archived=False, position__gt=deal.stage.position)
        .order_by("position")
        .values_list("pk", flat=True)
        .first()
    )
    return following or deal.stage_id


def _forms(deal: Deal, bound: dict[str, Any] | None = None, offer: str = "") -> dict[str, Any]:
    initial = {"version": deal.version}
    move_to = _next_stage_id(deal) if offer == "move" else deal.stage_id
    forms: dict[str, Any] = {
        "move_form": MoveForm(deal=deal, initial={**initial, "stage": move_to}),
        "win_form": WinForm(deal=deal, initial={**initial, "amount": deal.amount}),
        "lose_form": LoseForm(deal=deal, initial=initial),
        "reopen_form": ReopenForm(deal=deal, initial=initial),
        "touch_form": TouchForm(deal=deal),
        "task_form": TaskForm(deal=deal),
    }
    forms.update(bound or {})
    return forms


def _render(request: HttpRequest, deal: Deal, bound: dict[str, Any] | None = None) -> HttpResponse:
    offer = request.GET.get("offer", "")
    offer = offer if offer in OFFERS and deal.status == DealStatus.OPEN else ""
    playbook = playbook_state(deal)
    context = {
        "deal": deal,
        "timeline": deal_timeline(deal),
        "open_tasks": deal_open_tasks(deal),
        "lifecycle": lifecycle_of(deal.person),
        "rhythm": rhythm(deal),
        "cadences": cadence_progress(deal),
        "playbook": playbook,
        "unchecked": [item for item in playbook if not item.checked],
        "offer": offer,
        "history": audit_history(deal),
        "inplace": deal_fields(request.user, deal),  # type: ignore[arg-type]
        **_forms(deal, bound, offer),
    }
    return render(request, "web/deals/detail.html", context, status=400 if bound else 200)


@login_required
def deal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render(request, _deal_or_404(request, pk))


def _move(deal: Deal, user: User, data: dict[str, Any]) -> object:
    return deal_services.deal_move(
        deal_id=deal.pk, stage=data["stage"], version=data["version"], by=user
    )


def _win(deal: Deal, user: User, data: dict[str, Any]) -> object:
    return deal_services.deal_win(
        deal_id=deal.pk, version=data["version"], amount=data["amount"], by=user
    )


def _lose(deal: Deal, user: User, data: dict[str, Any]) -> object:
    return deal_services.deal_lose(
        deal_id=deal.pk,
        version=data["version"],
        reason=data["reason"],
        refused_by_us=data["refused_by_us"],
        unmet_criteria=data["unmet_criteria"],
        by=user,
    )


def _reopen(deal: Deal, user: User, data: dict[str, Any]) -> object:
    return deal_services.deal_reopen(deal_id=deal.pk, version=data["version"], by=user)


def _touch(deal: Deal, user: User, data: dict[str, Any]) -> object:
    return touch_services.touch_log(by=user, deal=deal, **data)


def _check(deal: Deal, user: User, data: dict[str, Any]) -> object:
    return deal_services.playbook_check(
        deal_id=deal.pk, item=data["item"], checked=data["checked"], by=user
    )


def _task(deal: Deal, user: User, data: dict[str, Any]) -> object:
    return touch_services.task_schedule(by=user, assignee=deal.owner or user, deal=deal, **data)


# action -> (its form, the one service call it makes)
ACTIONS: dict[str, tuple[type[DealActionForm], Callable[[Deal, User, dict[str, Any]], object]]] = {
    "move": (MoveForm, _move),
    "win": (WinForm, _win),
    "lose": (LoseForm, _lose),
    "reopen": (ReopenForm, _reopen),
    "touch": (TouchForm, _touch),
    "task": (TaskForm, _task),
    "check": (PlaybookCheckForm, _check),
}


def _after_touch(request: HttpRequest, deal: Deal, touch: Touch) -> HttpResponse:
    """Say what the touch means for the deal's rhythm, and offer its consequence."""
    pace = rhythm(deal)
    if touch.kind == TouchKind.CLOSING and pace.closing_too_early:
        messages.warning(
            request,
            ngettext(
                "Only %(n)s warming touch before this closing one; the rhythm that sells is "
                "about %(per)s warming to one closing.",
                "Only %(n)s warming touches before this closing one; the rhythm that sells is "
                "about %(per)s warming to one closing.",
                pace.warming_before_last_closing or 0,
            )
            % {"n": pace.warming_before_last_closing, "per": pace.per_closing},
        )
    if pace.too_many_touches:
        messages.warning(
            request,
            ngettext(
                "%(n)s touch and no first sale yet: time to rethink this deal.",
                "%(n)s touches and no first sale yet: time to rethink this deal.",
                pace.total,
            )
            % {"n": pace.total},
        )
    return outcome_offer(request, deal, touch.outcome) or redirect("web:deal", pk=deal.pk)


def outcome_offer(request: HttpRequest, deal: Deal, outcome: str) -> HttpResponse | None:
    """After a closing touch (logged here, from the board or in the agenda): "advanced" offers
    the move to the next stage, "refused" the loss dialog, both on the deal page."""
    if deal.status != DealStatus.OPEN:
        return None
    url = reverse("web:deal", args=[deal.pk])
    if outcome == Outcome.ADVANCED:
        messages.info(request, _("The client took the step. Move the deal on?"))
        return redirect(f"{url}?offer=move#move")
    if outcome == Outcome.REFUSED:
        messages.info(request, _("The client refused. Close the deal as lost, with the reason?"))
        return redirect(f"{url}?offer=lose#lose")
    return None


@login_required
@require_POST
def deal_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """One endpoint per deal action; each validates its form and calls one service."""
    if action not in ACTIONS:
        raise Http404
    deal = _deal_or_404(request, pk)
    user: User = request.user  # type: ignore[assignment]
    form_class, perform = ACTIONS[action]
    form = form_class(request.POST, deal=deal)
    if form.is_valid():
        try:
            result = perform(deal, user, form.cleaned_data)
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Saved."))
            back = safe_next(request, request.POST.get("next", ""))
            if back:
                return redirect(back)  # e.g. a touch logged from a board card
            if isinstance(result, Touch):
                return _after_touch(request, deal, result)
            return redirect("web:deal", pk=deal.pk)
    deal.refresh_from_db()
    return _render(request, deal, {f"{action}_form": form})


# --- Edit in place (see `inplace`): title, amount, currency through deal_update, the owner
# through deal_assign; each save carries the page's version, so a stale edit is a conflict. ---

# The fields in page order.
DEAL_EDITABLE = ("title", "amount", "currency", "owner")


class DealEditForm(forms.Form):
    """A deal's editable facts and the version the page showed; `only` keeps one of them."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    title = forms.CharField(
        label=gettext_lazy("Title"), max_length=max_length(Deal, "title"), required=False
    )
    amount = forms.DecimalField(
        label=gettext_lazy("Amount"), min_value=0, max_digits=14, decimal_places=2
    )
    currency = forms.CharField(label=gettext_lazy("Currency"), min_length=3, max_length=3)
    owner = forms.ModelChoiceField(
        queryset=User.objects.none(),
        label=pgettext_lazy("person responsible for a deal", "Owner"),
    )

    def __init__(
        self, data: Any = None, *, deal: Deal, user: User, only: str | None = None
    ) -> None:
        initial = {
            "version": deal.version,
            "title": deal.title,
            "amount": deal.amount,
            "currency": deal.currency,
            "owner": deal.owner_id,
        }
        super().__init__(data, initial=initial, auto_id="edit-%s")
        if only is not None:
            self.fields = {"version": self.fields["version"], only: self.fields[only]}
        if "owner" in self.fields:
            self.fields["owner"].queryset = managers_for(user)  # type: ignore[attr-defined]


def _deal_text(deal: Deal, name: str) -> str:
    if name == "amount":
        # The currency is its own field beside it: the number alone, as the language writes
        # it (no symbol, which would repeat the code: "€1,234.50 EUR").
        whole = deal.amount == deal.amount.to_integral_value()
        return number_format(deal.amount, decimal_pos=0 if whole else 2, force_grouping=True)
    if name == "owner":
        return deal.owner.get_full_name() if deal.owner else ""
    return str(getattr(deal, name))


def deal_fields(
    user: User,
    deal: Deal,
    *,
    form: DealEditForm | None = None,
    editing: str = "",
    version: int | None = None,
) -> dict[str, InPlaceField]:
    """The deal's editable facts (see `inplace_fields`). `version` is the one the forms carry
    (the deal's, unless an answer keeps the one the user posted)."""
    form = form or DealEditForm(deal=deal, user=user)
    return inplace_fields(
        user,
        form,
        names=DEAL_EDITABLE,
        text=lambda name: _deal_text(deal, name),
        edit_url="web:deal-edit",
        pk=deal.pk,
        back=reverse("web:deal", args=[deal.pk]),
        editing=editing,
        version=version or deal.version,
    )


def _save_field(deal: Deal, user: User, field: str, data: dict[str, Any]) -> Deal:
    if field == "owner":
        return deal_services.deal_assign(
            deal_id=deal.pk, owner=data["owner"], by=user, version=data["version"]
        )
    return deal_services.deal_update(
        deal_id=deal.pk, version=data["version"], by=user, **{field: data[field]}
    )


@login_required
@require_http_methods(["GET", "POST"])
def deal_edit(request: HttpRequest, pk: int, field: str) -> HttpResponse:
    """GET: the plain form of one field (the edit link without JavaScript). POST: save it;
    back to the deal page, or the field alone (with the new version) for the script."""
    if field not in DEAL_EDITABLE:
        raise Http404
    deal = _deal_or_404(request, pk)
    user: User = request.user  # type: ignore[assignment]
    posted = request.method == "POST"
    form = DealEditForm(request.POST if posted else None, deal=deal, user=user, only=field)
    status = 200
    version = None
    if posted and form.is_valid():
        try:
            deal = _save_field(deal, user, field, form.cleaned_data)
        except ServiceError as error:
            status = inplace_error(form, field, error)
            version = form.cleaned_data["version"]  # a conflict stays one until reloaded
        else:
            if not wants_fragment(request):
                messages.success(request, _("Saved."))
                return redirect("web:deal", pk=deal.pk)
            form = DealEditForm(deal=deal, user=user, only=field)
    elif posted:
        status = 400
        version = form.cleaned_data.get("version")
    editing = field if status != 200 or not posted else ""
    item = deal_fields(user, deal, form=form, editing=editing, version=version)[field]
    record = f"{deal.person.name} — {deal.title}" if deal.title else deal.person.name
    return inplace_response(request, item, record=record, status=status)
