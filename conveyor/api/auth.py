"""Bearer-token authentication with scopes and a rate limit per token.

Read operations need the `read` scope and writes `write`; an operation may accept other scopes
(POST /leads also takes an `intake` token, which can do nothing else).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja.security import HttpBearer

from conveyor.accounts.models import ApiToken, TokenScope, User
from conveyor.accounts.permissions import require_settings_access
from conveyor.accounts.services import token_hash
from conveyor.api.errors import ApiError
from conveyor.core import ratelimit

READ_METHODS = ("GET", "HEAD", "OPTIONS")
# `last_used_at` is written at most this often per token, not on every call.
LAST_USED_PRECISION = dt.timedelta(minutes=1)


class TokenAuth(HttpBearer):
    def __init__(self, *, accept: tuple[str, ...] | None = None) -> None:
        super().__init__()
        self.accept = accept

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = (
            ApiToken.objects.select_related("user__team").filter(key_hash=token_hash(token)).first()
        )
        now = timezone.now()
        if found is None or not found.is_usable(now):
            return None
        if not ratelimit.hit(
            f"api-token:{found.pk}",
            limit=settings.CONVEYOR_API_RATE_PER_MINUTE,
            window_seconds=60,
            now=now,
        ):
            raise ApiError(
                429,
                _("Too many requests for this token; try again in a minute."),
                headers={"Retry-After": "60"},
            )
        needed = self.accept or (
            (TokenScope.READ,) if request.method in READ_METHODS else (TokenScope.WRITE,)
        )
        if not set(needed) & set(found.scopes):
            raise ApiError(
                403,
                _("This token lacks the scope needed here (%(scopes)s).")
                % {"scopes": " or ".join(needed)},
            )
        if found.last_used_at is None or now - found.last_used_at > LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        request.user = found.user
        return found


def api_user(request: HttpRequest) -> User:
    """The user an authenticated API request acts as."""
    token = request.auth  # type: ignore[attr-defined]
    assert isinstance(token, ApiToken)
    return token.user


def settings_user(request: HttpRequest, refusal: str | None = None) -> User:
    """The caller, when an owner or head of sales (`can_manage_settings`); anyone else gets
    403 with `refusal` before anything is looked up, as on the web's settings screens."""
    user = api_user(request)
    require_settings_access(
        user, refusal or _("Only owners and heads of sales change the settings.")
    )
    return user


def api_token(request: HttpRequest) -> ApiToken:
    token = request.auth  # type: ignore[attr-defined]
    assert isinstance(token, ApiToken)
    return token
