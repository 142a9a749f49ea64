"""Settings screens: how the sales process is configured in the app, for owners and heads of
sales (everyone else gets 403 on every one of them).

One module per group of sections (process: segments, pipelines, stages, loss reasons;
intake: qualifying questions and routing rules; automation: cadences and rules; team: users,
teams, sales plans, expenses), all built the same way: a list page, and one page that creates
a record (no id) or changes one. A change is saved by the owning app's service, which checks
the rules again and writes the audit entry; what it refuses is shown on the form and nothing
is saved. Records in use are switched off or archived, never deleted. Web forms and the import
from another CRM have their own screens (`lead_forms`, `crm_import`), linked from the index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as HttpForbidden
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import can_manage_settings
from conveyor.core.errors import ServiceError
from conveyor.core.selectors import audit_history
from conveyor.web.forms import add_service_error, edit_conflict

M = TypeVar("M", bound=Model)


def settings_user(request: HttpRequest) -> User:
    """The logged-in owner or head of sales; anyone else is refused (403)."""
    user: User = request.user  # type: ignore[assignment]
    if not can_manage_settings(user):
        raise HttpForbidden(_("Only owners and heads of sales change the settings."))
    return user


def record_or_404(queryset: QuerySet[M], pk: int | None) -> M | None:
    """The record `pk` names in `queryset` (what the user may manage), None for a new one."""
    if pk is None:
        return None
    record = queryset.filter(pk=pk).first()
    if record is None:
        raise Http404
    return record


def form_page(
    request: HttpRequest,
    form: forms.BaseForm,
    *,
    save: Callable[[dict[str, Any]], Model],
    saved: str,
    then: Callable[[Model], str] | None = None,
    template: str = "web/settings/form.html",
    context: dict[str, Any],
) -> HttpResponse:
    """A settings form posted: valid input goes to `save` (one service call) and the browser
    on to `then(record)` with the `saved` message; a service's refusal is shown on the field it
    names and nothing is saved (400). Without `then` the browser goes back to `context["back"]`
    (the section's list, as a rule). A GET just shows the form, with the record's history of
    changes when there is a record (`context["record"]`).

    The form of a record carries `seen`, its stamp when the page was drawn: a save over
    someone's later change is shown again instead (`edit_conflict`).
    """
    record = context.get("record")
    seen = edit_conflict(request, form, record)
    if request.method == "POST" and form.is_valid():
        try:
            saved_record = save(form.cleaned_data)
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, saved)
            return redirect(then(saved_record) if then is not None else context["back"])
    page = {**context, "form": form}
    if record is not None:
        page["history"] = audit_history(record)
        page["seen"] = seen
    return render(request, template, page, status=400 if request.method == "POST" else 200)


@login_required
def settings_index(request: HttpRequest) -> HttpResponse:
    """The sections of the settings, each a link."""
    settings_user(request)
    return render(request, "web/settings/index.html")
