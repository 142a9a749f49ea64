"""Edit in place, shared by the deal and person pages.

A field shows as text with an "Edit" link. Without JavaScript the link opens a plain page with
the field's form (`web/people/edit_field.html`); with it, `static/web/inplace.js` opens the same
form in place and posts it with `X-Requested-With: XMLHttpRequest`, and the answer is the field
alone (`web/people/_inplace.html`, marked by the `X-Inplace` header): its new text, or the form
again with the error on the field. The views (`people.person_edit`, `deals.deal_edit`) parse the
one field, call one service and answer through `inplace_response`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django import forms
from django.forms import BoundField
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from conveyor.accounts.models import User
from conveyor.accounts.permissions import can_manage_settings
from conveyor.core.errors import ConflictError, ServiceError


@dataclass(frozen=True)
class InPlaceField:
    """One field of a record shown as text with an edit button; `url` is "" when the viewer
    may not edit it. `version` is the deal's, for its optimistic locking; `back` is the
    record's page (where Cancel goes)."""

    name: str
    label: str
    text: str
    url: str
    back: str
    form: forms.Form
    editing: bool = False
    version: int | None = None

    @property
    def bound(self) -> BoundField:
        return self.form[self.name]


def inplace_fields(
    user: User,
    form: forms.Form,
    *,
    names: Iterable[str],
    text: Callable[[str], str],
    edit_url: str,
    pk: int,
    back: str,
    editing: str = "",
    version: int | None = None,
) -> dict[str, InPlaceField]:
    """A record's editable fields in page order. Whoever may see the record may edit them (the
    same rule); the owner's button only for those who may hand records over, though the field's
    own page and its answers keep the form whoever posts."""
    return {
        name: InPlaceField(
            name=name,
            label=str(form.fields[name].label),
            text=text(name),
            url=(
                reverse(edit_url, args=[pk, name])
                if name != "owner" or can_manage_settings(user) or name == editing
                else ""
            ),
            back=back,
            form=form,
            editing=name == editing,
            version=version,
        )
        for name in names
        if name in form.fields
    }


def wants_fragment(request: HttpRequest) -> bool:
    """Posted by the in-place script, which swaps the answer into the page."""
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


def inplace_error(form: forms.Form, field: str, error: ServiceError) -> int:
    """Put a service's refusal on the edited field when it names that field, else above it (a
    stale version, a missing permission, the other contact being required). Returns the
    status to answer with: 409 for a conflict, 400 otherwise."""
    form.add_error(field if error.field == field else None, error.message)
    return 409 if isinstance(error, ConflictError) else 400


def inplace_response(
    request: HttpRequest, field: InPlaceField, *, record: str, status: int
) -> HttpResponse:
    """The field alone for the in-place script, else the plain page with its form."""
    if wants_fragment(request):
        response = render(request, "web/people/_inplace.html", {"field": field}, status=status)
        response["X-Inplace"] = "1"
        return response
    context = {"field": field, "record": record}
    return render(request, "web/people/edit_field.html", context, status=status)
