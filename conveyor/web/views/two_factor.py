"""Account → Two-factor login: turn TOTP on (scan or type the secret, confirm with a code) or off
(a code and the password). The login's code step is in web/login.py."""

from __future__ import annotations

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from conveyor.accounts.models import User
from conveyor.accounts.totp import (
    totp_active,
    totp_confirm,
    totp_disable,
    totp_provisioning_uri,
    totp_required,
    totp_start,
)
from conveyor.core.errors import ServiceError
from conveyor.web.forms import TotpCodeForm, TotpDisableForm, add_service_error
from conveyor.web.login import count_failure, throttle_keys, throttled
from conveyor.web.views import safe_next


def _page(
    request: HttpRequest, user: User, form: TotpCodeForm | TotpDisableForm, *, status: int = 200
) -> HttpResponse:
    context: dict[str, object] = {
        "form": form,
        "required": totp_required(user),
        "next": request.GET.get("next", ""),
    }
    if isinstance(form, TotpCodeForm):
        device = totp_start(user=user)
        uri = totp_provisioning_uri(device)
        context |= {
            "secret": device.secret,
            "uri": uri,
            # An SVG data address: allowed by the CSP's img-src, no inline markup to trust.
            "qr": segno.make(uri, error="m").svg_data_uri(scale=5, border=2),
        }
    response = render(request, "web/account/two_factor.html", context, status=status)
    # The page may show the secret: keep it out of every cache.
    response["Cache-Control"] = "no-store"
    return response


@sensitive_post_parameters("code")
@login_required
def totp_page(request: HttpRequest) -> HttpResponse:
    """TOTP on: its state and the form to turn it off. Off: the secret and the form to confirm
    it with a code; a POST confirms."""
    user: User = request.user  # type: ignore[assignment]
    if totp_active(user):
        return _page(request, user, TotpDisableForm())
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            totp_confirm(user=user, code=form.cleaned_data["code"])
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Two-factor login is on."))
            target = safe_next(request, request.GET.get("next", ""))
            return HttpResponseRedirect(target) if target else redirect("web:totp")
    return _page(request, user, form, status=400 if request.method == "POST" else 200)


@sensitive_post_parameters("code", "password")
@login_required
@require_POST
def totp_off(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = TotpDisableForm(request.POST)
    # Guesses here count with failed logins: a borrowed session must not try passwords freely.
    keys = throttle_keys(request, user.email)
    refusal = throttled(keys)
    if refusal:
        form.add_error(None, refusal)
    elif form.is_valid():
        try:
            totp_disable(
                user=user,
                code=form.cleaned_data["code"],
                password=form.cleaned_data["password"],
            )
        except ServiceError as error:
            if error.field in ("code", "password"):
                count_failure(keys)
            add_service_error(form, error)
        else:
            messages.success(request, _("Two-factor login is off."))
            return redirect("web:totp")
    return _page(request, user, form, status=400)
