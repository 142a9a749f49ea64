"""One person's page: personal data export (JSON, CSV zip), erasing, and the history of changes.

Whoever may see the person may export them; erasing is for owners and heads with access to the
person's owner (`person_erase` decides; the page only hides the button from others).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from conveyor.accounts.models import User
from conveyor.core.errors import ServiceError
from conveyor.core.selectors import audit_history
from conveyor.people.models import Person
from conveyor.people.privacy import export_csv, export_json, person_export
from conveyor.people.selectors import people_for
from conveyor.people.services import can_erase_person, person_erase


def _export(request: HttpRequest, pk: int) -> dict[str, object]:
    user: User = request.user  # type: ignore[assignment]
    try:
        return person_export(person_id=pk, user=user)
    except Person.DoesNotExist:
        raise Http404(_("This person does not exist or is not yours to see.")) from None


@login_required
@require_GET
def person_export_json(request: HttpRequest, pk: int) -> HttpResponse:
    response = HttpResponse(export_json(_export(request, pk)), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="person-{pk}.json"'
    return response


@login_required
@require_GET
def person_export_csv(request: HttpRequest, pk: int) -> HttpResponse:
    response = HttpResponse(export_csv(_export(request, pk)), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="person-{pk}-csv.zip"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def person_erase_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what erasing does, the export links and (for those allowed) the confirm form.
    POST with `confirm`: erase and come back to this page."""
    user: User = request.user  # type: ignore[assignment]
    try:
        person = people_for(user).select_related("owner__team").get(pk=pk)
    except Person.DoesNotExist:
        raise Http404(_("This person does not exist or is not yours to see.")) from None
    may_erase = can_erase_person(user, person)
    error = ""
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            error = _("Tick the box to confirm: erasing cannot be undone.")
        else:
            try:
                person_erase(person_id=pk, by=user, reason=request.POST.get("reason", ""))
            except ServiceError as exc:
                error = exc.message
            else:
                messages.success(
                    request,
                    _("Person #%(id)s was erased; their e-mail and phone are suppressed.")
                    % {"id": pk},
                )
                return redirect(reverse("web:person-erase", args=[pk]))
    context = {
        "person": person,
        "may_erase": may_erase,
        "error": error,
        "history": audit_history(person),
    }
    return render(request, "web/people/erase.html", context, status=400 if error else 200)
