"""The login form with throttling: after too many failed attempts from one address, or on one
account, logins are refused for the rest of a 15-minute window — correct passwords included,
so guessing cannot go on. Only failures count, so people who log in often are never locked."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from conveyor.core import ratelimit


class ThrottledLoginForm(AuthenticationForm):
    def _keys(self) -> list[tuple[str, int]]:
        request = self.request
        ip = request.META.get("REMOTE_ADDR", "") if request is not None else ""
        account = str(self.data.get("username", "")).strip().lower()[:200]
        return [
            (f"login-ip:{ip}", settings.CONVEYOR_LOGIN_FAILURES_PER_IP),
            (f"login-account:{account}", settings.CONVEYOR_LOGIN_FAILURES_PER_ACCOUNT),
        ]

    def clean(self) -> dict[str, Any]:
        window = settings.CONVEYOR_LOGIN_WINDOW
        keys = self._keys()
        if any(ratelimit.count(key, window_seconds=window) >= limit for key, limit in keys):
            raise ValidationError(
                _("Too many failed logins. Wait %(minutes)d minutes and try again.")
                % {"minutes": window // 60},
                code="throttled",
            )
        try:
            return super().clean()
        except ValidationError:
            for key, limit in keys:
                ratelimit.hit(key, limit=limit, window_seconds=window)
            raise
