"""The inbox (shared intake), a lead's page and the quick new-lead form. Services do the work.

A lead's page is fetched through the access rule (`lead_detail`, on `leads_for`): whoever may
not see the lead gets 404, as for a missing one. Its actions stay in the inbox."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from conveyor.accounts.models import User
from conveyor.core.errors import ServiceError
from conveyor.core.selectors import audit_history
from conveyor.intake import services
from conveyor.intake.models import Lead, LeadChannel, LeadStatus
from conveyor.intake.selectors import inbox, lead_detail
from conveyor.web.forms import (
    LeadActionForm,
    LeadBulkForm,
    LeadForm,
    add_service_error,
)


def _render_inbox(
    request: HttpRequest, *, failed_lead: int | None = None, form: Any = None, status: int = 200
) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    errors = [message for field in (form.errors.values() if form else []) for message in field]
    context = {
        "leads": inbox(user),
        "options_form": form if isinstance(form, LeadBulkForm) else LeadBulkForm(),
        "failed_lead": failed_lead,
        "errors": errors,
    }
    return render(request, "web/intake/inbox.html", context, status=status)


@login_required
def inbox_view(request: HttpRequest) -> HttpResponse:
    return _render_inbox(request)


def _utm(lead: Lead) -> list[tuple[str, str]]:
    """The lead's UTM tags as (name, value) text pairs, in the order they came; a pair list
    rather than the dict itself, whose keys a template would mistake for attributes."""
    utm = lead.utm if isinstance(lead.utm, dict) else {}
    return [(str(name), str(value)) for name, value in utm.items() if value not in (None, "")]


@login_required
def lead_page(request: HttpRequest, pk: int) -> HttpResponse:
    """One lead: what came in, where routing sent it, what became of it and its history."""
    user: User = request.user  # type: ignore[assignment]
    lead = lead_detail(user, pk)
    if lead is None:
        raise Http404
    payload = lead.payload if isinstance(lead.payload, dict) else {}
    context = {
        "lead": lead,
        "in_inbox": lead.status == LeadStatus.INBOX,
        "note": str(payload.get("note") or ""),
        "company": str(payload.get("company") or ""),
        "utm": _utm(lead),
        # Whom intake matched the lead to is not named to someone who may not see them.
        "history": audit_history(
            lead, withheld=() if getattr(lead, "person_visible", False) else ("person",)
        ),
    }
    return render(request, "web/intake/lead.html", context)


@login_required
@require_POST
def lead_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Accept, merge or reject one inbox lead."""
    if action not in ("accept", "merge", "spam"):
        raise Http404
    user: User = request.user  # type: ignore[assignment]
    form = LeadActionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            if action == "accept":
                deal = services.lead_accept(
                    lead_id=pk, by=user, pipeline=data["pipeline"], owner=data["owner"]
                )
                messages.success(request, _("Lead accepted: deal opened."))
                return redirect("web:deal", pk=deal.pk)
            if action == "merge":
                if data["person"] is None:
                    raise ServiceError(
                        _("Enter the id of the person to merge into."), field="person"
                    )
                services.lead_merge(lead_id=pk, person_id=data["person"], by=user)
                messages.success(request, _("Lead merged into the person."))
            else:
                services.lead_reject_spam(lead_id=pk, by=user)
                messages.success(request, _("Lead rejected as spam."))
            return redirect("web:inbox")
        except ServiceError as error:
            add_service_error(form, error)
    return _render_inbox(request, failed_lead=pk, form=form, status=400)


@login_required
@require_POST
def leads_bulk(request: HttpRequest) -> HttpResponse:
    """Accept, merge or reject many selected leads; each in its own transaction, reported per
    lead. Merging goes into each lead's known person, or into the one person typed."""
    user: User = request.user  # type: ignore[assignment]
    form = LeadBulkForm(request.POST)
    if not form.is_valid():
        return _render_inbox(request, form=form, status=400)
    data = form.cleaned_data
    lead_ids = [lead.pk for lead in data["leads"]]
    if data["action"] == "accept":
        results = services.lead_accept_bulk(
            lead_ids=lead_ids, by=user, pipeline=data["pipeline"], owner=data["owner"]
        )
    elif data["action"] in ("merge", "merge_into"):
        # The form makes sure the person id is given for merge_into and only then.
        results = services.lead_merge_bulk(lead_ids=lead_ids, by=user, person_id=data["person"])
    else:
        results = services.lead_reject_spam_bulk(lead_ids=lead_ids, by=user)
    done = [r for r in results if r.ok]
    if done:
        messages.success(
            request,
            ngettext("%(count)d lead done.", "%(count)d leads done.", len(done))
            % {"count": len(done)},
        )
    for result in results:
        if not result.ok:
            messages.error(
                request,
                _("Lead #%(id)s: %(message)s") % {"id": result.lead_id, "message": result.message},
            )
    return redirect("web:inbox")


@login_required
def lead_new(request: HttpRequest) -> HttpResponse:
    """The quick form for a lead taken by hand or on a call; it lands in the inbox."""
    form = LeadForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            lead = services.lead_receive(
                channel=data["channel"] or LeadChannel.MANUAL,
                name=data["name"],
                phone=data["phone"],
                email=data["email"],
                source=data["source"],
                segment=data["segment"],
                note=data["note"],
                by=request.user,  # type: ignore[arg-type]
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            if lead.person_id is not None:
                messages.success(
                    request,
                    _("Lead added to the inbox, linked to %(person)s who is already known.")
                    % {"person": lead.person},
                )
            else:
                messages.success(request, _("Lead added to the inbox."))
            return redirect("web:inbox")
    status = 400 if request.method == "POST" else 200
    return render(request, "web/intake/new.html", {"form": form}, status=status)
