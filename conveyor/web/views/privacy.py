"""A person's personal data: export (JSON, CSV zip) and erasing. Both live on the person page
(`people.person_page`), which hands its erase form here.

Whoever may see the person may export them; erasing is for owners and heads with access to the
person's owner (`person_erase` decides; the page only hides the button from others).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from conveyor.accounts.models import User
from conveyor.core.errors import ServiceError
from conveyor.people.models import Person
from conveyor.people.privacy import export_csv, export_json, person_export
from conveyor.people.services import person_erase


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


def erase_posted(request: HttpRequest, person: Person) -> HttpResponse | str:
    """The erase form posted to the person page (already fetched through the access rule):
    erase and redirect back to the page, or the error to show on the form (nothing erased)."""
    user: User = request.user  # type: ignore[assignment]
    if request.POST.get("confirm") != "yes":
        return _("Tick the box to confirm: erasing cannot be undone.")
    try:
        person_erase(person_id=person.pk, by=user, reason=request.POST.get("reason", ""))
    except ServiceError as exc:
        return exc.message
    messages.success(
        request,
        _("Person #%(id)s was erased; their e-mail and phone are suppressed.") % {"id": person.pk},
    )
    return redirect(reverse("web:person", args=[person.pk]))
