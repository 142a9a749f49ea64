"""Account → API tokens: make one (shown once), see when each was last used, revoke one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from conveyor.accounts.models import User
from conveyor.accounts.selectors import tokens_of
from conveyor.accounts.services import token_create, token_revoke
from conveyor.core.errors import ServiceError
from conveyor.web.forms import TokenForm, add_service_error


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    """The user's tokens; a POST makes a new one and shows it once, here, never again."""
    user: User = request.user  # type: ignore[assignment]
    form = TokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        try:
            new_token = token_create(
                user=user,
                by=user,
                name=form.cleaned_data["name"],
                kind=form.cleaned_data["kind"],
                scopes=form.cleaned_data["scopes"],
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            form = TokenForm()
    status = 400 if request.method == "POST" and new_token is None else 200
    context = {"tokens": tokens_of(user), "form": form, "new_token": new_token}
    response = render(request, "web/account/tokens.html", context, status=status)
    # The page may show a secret: keep it out of every cache.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if not tokens_of(user).filter(pk=pk).exists():
        raise Http404
    token = token_revoke(token_id=pk, by=user)
    messages.success(request, _("Token %(name)s revoked.") % {"name": token.name})
    return redirect("web:tokens")
