"""Settings → web forms: the list, a new form, and the snippets that embed one on a site."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as HttpForbidden
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import can_manage_settings
from conveyor.core.errors import ServiceError
from conveyor.intake import services
from conveyor.intake.selectors import lead_forms
from conveyor.web.forms import WebFormCreateForm, add_service_error


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


@login_required
def form_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One form with its public address and the two embed snippets."""
    user = _manager_of_forms(request)
    form = lead_forms(user).filter(pk=pk).first()
    if form is None:
        raise Http404
    url = request.build_absolute_uri(reverse("web:public-form", kwargs={"key": form.key}))
    context = {"form": form, "url": url, "fields": form.shown_fields()}
    return render(request, "web/forms/detail.html", context)
