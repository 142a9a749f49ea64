"""Settings → holidays: the days off of the account's calendar, which planned tasks skip.
Unlike the other sections a holiday is deleted, not switched off: it is only a date."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from conveyor.accounts.selectors import settings_holidays
from conveyor.accounts.services import holiday_delete, holiday_save
from conveyor.core.errors import ServiceError
from conveyor.web.forms_settings import HolidayForm
from conveyor.web.views.settings import form_page, record_or_404, settings_user


@login_required
def holiday_list(request: HttpRequest) -> HttpResponse:
    user = settings_user(request)
    return render(request, "web/settings/holidays.html", {"holidays": settings_holidays(user)})


@login_required
def holiday_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new holiday, or one's date and name."""
    user = settings_user(request)
    holiday = record_or_404(settings_holidays(user), pk)

    def save(data: dict[str, Any]) -> Model:
        return holiday_save(by=user, holiday_id=pk, date=data["date"], name=data["name"])

    return form_page(
        request,
        HolidayForm(request.POST or None, instance=holiday),
        save=save,
        saved=_("Holiday saved."),
        template="web/settings/holiday.html",
        context={
            "record": holiday,
            "title": str(holiday) if holiday else _("New holiday"),
            "back": reverse("web:settings-holidays"),
        },
    )


@login_required
@require_POST
def holiday_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a holiday: the day is a working day again for tasks planned from now on."""
    user = settings_user(request)
    holiday = record_or_404(settings_holidays(user), pk)
    assert holiday is not None
    try:
        holiday_delete(by=user, holiday_id=holiday.pk)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Holiday deleted."))
    return redirect("web:settings-holidays")
