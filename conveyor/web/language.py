"""The interface language: each user's own, remembered on their account.

Django's LocaleMiddleware picks the language from the cookie or the browser before anyone is
known; once the user is, the language saved on their account wins, so a manager gets their
language on any device. Switching in the header saves it to the account as well.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from conveyor.accounts.services import user_language_set
from conveyor.core.errors import ServiceError


class UserLanguageMiddleware:
    """Activates the authenticated user's saved language (after AuthenticationMiddleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.codes = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None else ""
        if user is not None and user.is_authenticated and language in self.codes:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)


@require_POST
def language_switch(request: HttpRequest) -> HttpResponse:
    """Django's set_language (cookie, safe redirect), plus the choice saved on the account."""
    response = set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language:
        # An unknown code is ignored, as Django's view ignores it.
        with suppress(ServiceError):
            user_language_set(user_id=request.user.pk, language=language)
    return response
