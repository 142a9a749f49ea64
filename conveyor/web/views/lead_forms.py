"""Settings → web forms: the list, a new form, a form's settings changed, and the snippets that
embed one on a site (with the segment's qualifying questions)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as HttpForbidden
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import can_manage_settings
from conveyor.core.errors import ServiceError
from conveyor.intake import services
from conveyor.intake.embed import form_embed
from conveyor.intake.models import LeadForm
from conveyor.intake.selectors import lead_forms, managed_forms
from conveyor.web.forms import (
    WebFormCreateForm,
    WebFormEditForm,
    add_service_error,
    edit_conflict,
)


def _manager_of_forms(request: HttpRequest) -> User:
    user: User = request.user  # type: ignore[assignment]
    if not can_manage_settings(user):
        raise HttpForbidden(_("Only owners and heads of sales manage web forms."))
    return user


@login_required
def form_list(request: HttpRequest) -> HttpResponse:
    """The forms, and a new one (posted here)."""
    user = _manager_of_forms(request)
    create = WebFormCreateForm(request.POST or None)
    if request.method == "POST" and create.is_valid():
        data = create.cleaned_data
        try:
            form = services.form_create(
                name=data["name"],
                by=user,
                segment=data["segment"],
                pipeline=data["pipeline"],
                fields=create.form_fields(),
                thank_you_text=data["thank_you_text"],
                redirect_url=data["redirect_url"],
            )
        except ServiceError as error:
            add_service_error(create, error)
        else:
            messages.success(request, _("Form created: paste one of the snippets into your site."))
            return redirect("web:lead-form", pk=form.pk)
    status = 400 if request.method == "POST" else 200
    context = {"forms": lead_forms(user), "create": create}
    return render(request, "web/forms/list.html", context, status=status)


def _form_or_404(user: User, pk: int) -> LeadForm:
    form = managed_forms(user).filter(pk=pk).first()
    if form is None:
        raise Http404
    return form


@login_required
def form_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One form with its public address and the two embed snippets (`intake.embed`), shown
    escaped on the page, so what a head copies is exactly what gets pasted."""
    user = _manager_of_forms(request)
    form = _form_or_404(user, pk)
    embed = form_embed(request, form)
    context = {
        "form": form,
        "url": embed.url,
        "questions": embed.questions,
        "iframe_snippet": embed.iframe_snippet,
        "html_snippet": embed.html_snippet,
    }
    return render(request, "web/forms/detail.html", context)


@login_required
def form_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a form's settings, or switch it off; its key (and every pasted snippet) stays."""
    user = _manager_of_forms(request)
    form = _form_or_404(user, pk)
    edit = WebFormEditForm(request.POST or None, initial=WebFormEditForm.initial_for(form))
    seen = edit_conflict(request, edit, form)
    if request.method == "POST" and edit.is_valid():
        data = edit.cleaned_data
        try:
            services.form_update(
                form_id=form.pk,
                by=user,
                name=data["name"],
                segment=data["segment"],
                pipeline=data["pipeline"],
                fields=edit.form_fields(),
                thank_you_text=data["thank_you_text"],
                redirect_url=data["redirect_url"],
                min_fill_seconds=data["min_fill_seconds"],
                is_active=data["is_active"],
            )
        except ServiceError as error:
            add_service_error(edit, error)
        else:
            messages.success(request, _("Form saved."))
            return redirect("web:lead-form", pk=form.pk)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "edit": edit, "seen": seen}
    return render(request, "web/forms/edit.html", context, status=status)
