"""Settings → holidays: owners and heads keep the account's days off; managers are refused."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from conftest import Cast
from conveyor.accounts.models import Holiday, User
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.testing.audit import log_of

pytestmark = pytest.mark.django_db

NEW_YEAR = dt.date(2027, 1, 1)


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def holiday() -> Holiday:
    return Holiday.objects.create(date=dt.date(2026, 12, 25), name="Christmas")


def test_a_manager_is_refused_every_page_and_nothing_changes(cast: Cast, holiday: Holiday) -> None:
    client = _client(cast.manager)
    pages = [
        reverse("web:settings-holidays"),
        reverse("web:settings-holiday-new"),
        reverse("web:settings-holiday", kwargs={"pk": holiday.pk}),
    ]
    for url in pages:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"date": "2027-01-01", "name": "Mine"}).status_code == 403, url
    delete = reverse("web:settings-holiday-delete", kwargs={"pk": holiday.pk})
    assert client.post(delete).status_code == 403
    assert list(Holiday.objects.values_list("date", "name")) == [(holiday.date, "Christmas")]
    assert not AuditEntry.objects.exists()


def test_the_list_shows_the_holidays_newest_first(cast: Cast, holiday: Holiday) -> None:
    Holiday.objects.create(date=NEW_YEAR, name="New Year")
    response = _client(cast.head).get(reverse("web:settings-holidays"))
    assert response.status_code == 200
    assert [h.name for h in response.context["holidays"]] == ["New Year", "Christmas"]
    assert reverse("web:settings-holiday", kwargs={"pk": holiday.pk}) in response.text


def test_head_adds_a_holiday_and_the_log_says_who(cast: Cast) -> None:
    response = _client(cast.head).post(
        reverse("web:settings-holiday-new"), {"date": "2027-01-01", "name": " New Year "}
    )
    assert response.headers["Location"] == reverse("web:settings-holidays")
    holiday = Holiday.objects.get()
    assert (holiday.date, holiday.name) == (NEW_YEAR, "New Year")
    [entry] = log_of(holiday)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.head.pk)


def test_owner_renames_a_holiday_and_its_page_shows_the_change(
    cast: Cast, holiday: Holiday
) -> None:
    client = _client(cast.owner)
    url = reverse("web:settings-holiday", kwargs={"pk": holiday.pk})
    response = client.post(url, {"date": "2026-12-25", "name": "Christmas Day"})
    assert response.status_code == 302
    holiday.refresh_from_db()
    assert holiday.name == "Christmas Day"
    [entry] = log_of(holiday)
    assert entry.action == AuditAction.UPDATE
    assert entry.changes == {"name": ["Christmas", "Christmas Day"]}
    page = client.get(url)
    assert "Christmas Day" in page.text
    assert page.context["history"].total == 1


def test_a_second_holiday_on_the_same_date_is_shown_on_the_date(
    cast: Cast, holiday: Holiday
) -> None:
    response = _client(cast.owner).post(
        reverse("web:settings-holiday-new"), {"date": "2026-12-25", "name": "Again"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["date"] == [
        "2026-12-25 already is a holiday: change that one."
    ]
    assert Holiday.objects.count() == 1
    assert not AuditEntry.objects.exists()


def test_a_holiday_without_a_date_is_refused(cast: Cast) -> None:
    response = _client(cast.owner).post(reverse("web:settings-holiday-new"), {"name": "When?"})
    assert response.status_code == 400
    assert "date" in response.context["form"].errors
    assert not Holiday.objects.exists()


def test_deleting_a_holiday_is_logged_with_what_it_was(cast: Cast, holiday: Holiday) -> None:
    pk = holiday.pk
    response = _client(cast.head).post(reverse("web:settings-holiday-delete", kwargs={"pk": pk}))
    assert response.headers["Location"] == reverse("web:settings-holidays")
    assert not Holiday.objects.exists()
    entry = AuditEntry.objects.get(record_type="accounts.holiday", record_id=pk)
    assert (entry.action, entry.actor_id) == (AuditAction.DELETE, cast.head.pk)
    assert entry.changes == {"date": ["2026-12-25", None], "name": ["Christmas", None]}


def test_deleting_is_a_post_and_an_unknown_holiday_is_missing(cast: Cast, holiday: Holiday) -> None:
    client = _client(cast.owner)
    url = reverse("web:settings-holiday-delete", kwargs={"pk": holiday.pk})
    assert client.get(url).status_code == 405
    gone = reverse("web:settings-holiday-delete", kwargs={"pk": holiday.pk + 1})
    assert client.post(gone).status_code == 404
    assert Holiday.objects.count() == 1
