"""Logging in: the password form with throttling, the TOTP second step, the admin's login sent
through the same steps, and the staff TOTP policy.

Throttling: after too many failed attempts from one address, or on one account, logins are
refused for the rest of a 15-minute window — correct passwords included, so guessing cannot go
on. Only failures count (wrong passwords and wrong TOTP codes alike), so people who log in often
are never locked.

Two steps: a user with TOTP on who gives the right password is not logged in yet; the session
only remembers who they claim to be for a few minutes, and login() runs once the code is right.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from conveyor.accounts.models import User
from conveyor.accounts.totp import totp_active, totp_required, totp_verify
from conveyor.core import ratelimit
from conveyor.web.forms import TotpCodeForm
from conveyor.web.views import safe_next

# The session key of a password-checked login waiting for its code, and how long it waits.
PENDING_KEY = "conveyor_login_pending"
PENDING_SECONDS = 5 * 60


def throttle_keys(request: HttpRequest | None, account: str) -> list[tuple[str, int]]:
    ip = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    account = account.strip().lower()[:200]
    return [
        (f"login-ip:{ip}", settings.CONVEYOR_LOGIN_FAILURES_PER_IP),
        (f"login-account:{account}", settings.CONVEYOR_LOGIN_FAILURES_PER_ACCOUNT),
    ]


def throttled(keys: list[tuple[str, int]]) -> str | None:
    """The refusal to show while any of `keys` is over its limit, else None."""
    window = settings.CONVEYOR_LOGIN_WINDOW
    if any(ratelimit.count(key, window_seconds=window) >= limit for key, limit in keys):
        return _("Too many failed logins. Wait %(minutes)d minutes and try again.") % {
            "minutes": window // 60
        }
    return None


def count_failure(keys: list[tuple[str, int]]) -> None:
    window = settings.CONVEYOR_LOGIN_WINDOW
    for key, limit in keys:
        ratelimit.hit(key, limit=limit, window_seconds=window)


class ThrottledLoginForm(AuthenticationForm):
    def clean(self) -> dict[str, Any]:
        keys = throttle_keys(self.request, str(self.data.get("username", "")))
        refusal = throttled(keys)
        if refusal:
            raise ValidationError(refusal, code="throttled")
        try:
            return super().clean()
        except ValidationError:
            count_failure(keys)
            raise


class LoginView(auth_views.LoginView):
    """Step one. Without TOTP the right password logs in; with it, the code step comes next."""

    template_name = "web/registration/login.html"
    redirect_authenticated_user = True
    authentication_form = ThrottledLoginForm

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        if not totp_active(user):
            self.request.session.pop(PENDING_KEY, None)
            return super().form_valid(form)
        # A new session key now, not only at login(): a planted cookie must not reach step two.
        self.request.session.cycle_key()
        self.request.session[PENDING_KEY] = {
            "user": user.pk,
            "backend": getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[0]),
            "until": time.time() + PENDING_SECONDS,
            "next": self.get_success_url(),
        }
        return redirect("web:login-code")


def _pending_user(request: HttpRequest) -> tuple[User, dict[str, Any]] | None:
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict) or pending.get("until", 0) < time.time():
        return None
    user = User.objects.filter(pk=int(pending["user"]), is_active=True).first()
    return (user, pending) if user is not None else None


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def login_code_view(request: HttpRequest) -> HttpResponse:
    """Step two: the current code from the user's authenticator app, then login()."""
    found = _pending_user(request)
    if found is None:
        request.session.pop(PENDING_KEY, None)
        if request.method == "POST":
            messages.error(request, _("The code was not entered in time. Log in again."))
        return redirect("web:login")
    user, pending = found
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        keys = throttle_keys(request, user.email)
        refusal = throttled(keys)
        if refusal:
            form.add_error(None, refusal)
        elif totp_verify(user=user, code=form.cleaned_data["code"]):
            del request.session[PENDING_KEY]
            login(request, user, backend=pending["backend"])
            return HttpResponseRedirect(pending["next"])
        else:
            count_failure(keys)
            form.add_error(
                "code",
                _("The code is wrong or was already used. Enter the current code from the app."),
            )
    status = 400 if request.method == "POST" else 200
    return render(request, "web/registration/login_code.html", {"form": form}, status=status)


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's own login form checks the password alone; send people to ours instead."""
    target = safe_next(request, request.GET.get("next", "")) or reverse("admin:index")
    if request.user.is_authenticated:
        if request.user.is_staff:
            return HttpResponseRedirect(target)
        raise PermissionDenied
    return redirect_to_login(target, login_url=reverse("web:login"))


class TotpPolicyMiddleware:
    """With CONVEYOR_TOTP_REQUIRED_FOR_STAFF on, a staff member, owner or head without TOTP can
    open only the enrolment page (and log out, switch language) until they turn it on. The API
    is left alone: it takes bearer tokens, not sessions."""

    ALLOWED = frozenset({"web:totp", "web:logout", "set_language"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: Any,
        view_kwargs: Any,
    ) -> HttpResponse | None:
        if not settings.CONVEYOR_TOTP_REQUIRED_FOR_STAFF:
            return None
        user = request.user
        match = request.resolver_match
        if not user.is_authenticated or match is None:
            return None
        if match.view_name in self.ALLOWED or "api-v1" in match.namespaces:
            return None
        if not isinstance(user, User) or not totp_required(user) or totp_active(user):
            return None
        return redirect_to_login(
            request.get_full_path(), login_url=reverse("web:totp"), redirect_field_name="next"
        )
