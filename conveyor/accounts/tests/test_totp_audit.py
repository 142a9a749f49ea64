"""Two-factor login going on and off is audited on the user's record: by the user on the
two-factor page, by the operator's command or an administrator in the admin for a lost phone.
The TOTP secret never reaches the log."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pyotp
import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from conftest import PASSWORD, Cast
from conveyor.accounts.models import TotpDevice, User
from conveyor.accounts.totp import totp_confirm, totp_disable, totp_start
from conveyor.core.errors import ServiceError
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.testing.audit import actions_of, log_of

pytestmark = pytest.mark.django_db

T = dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(seconds=30)


@pytest.fixture(autouse=True)
def _database_counters(settings: Settings) -> None:
    settings.REDIS_URL = ""


def _code(user: User, at: dt.datetime) -> str:
    return pyotp.TOTP(TotpDevice.objects.get(user=user).secret).at(at)


def _enrolled(user: User) -> str:
    """TOTP on for `user`; its secret."""
    totp_start(user=user)
    totp_confirm(user=user, code=_code(user, T), now=T)
    return TotpDevice.objects.get(user=user).secret


def _assert_secret_never_logged(secret: str) -> None:
    for entry in AuditEntry.objects.all():
        assert secret not in json.dumps(entry.changes), entry.changes
        assert secret not in entry.note
        assert "secret" not in (entry.changes or {})


def _admin(cast: Cast) -> Client:
    cast.owner.is_staff = cast.owner.is_superuser = True
    cast.owner.save()
    client = Client()
    client.force_login(cast.owner)
    return client


def test_turning_two_factor_on_on_its_page_is_recorded_on_the_user(cast: Cast) -> None:
    client = Client()
    client.force_login(cast.manager)
    assert client.get(reverse("web:totp")).status_code == 200  # the enrolment: not "on" yet
    assert actions_of(cast.manager) == []
    code = pyotp.TOTP(TotpDevice.objects.get(user=cast.manager).secret).now()
    response = client.post(reverse("web:totp"), {"code": code})
    assert response.status_code == 302
    [entry] = log_of(cast.manager)
    assert (entry.action, entry.actor_id, entry.changes) == (
        AuditAction.TOTP_ON,
        cast.manager.pk,
        {},
    )
    _assert_secret_never_logged(TotpDevice.objects.get(user=cast.manager).secret)


def test_turning_two_factor_off_is_recorded_on_the_user(cast: Cast) -> None:
    secret = _enrolled(cast.manager)
    totp_disable(
        user=cast.manager, code=_code(cast.manager, T + STEP), password=PASSWORD, now=T + STEP
    )
    assert actions_of(cast.manager) == [AuditAction.TOTP_ON, AuditAction.TOTP_OFF]
    assert log_of(cast.manager)[-1].actor_id == cast.manager.pk
    _assert_secret_never_logged(secret)


def test_a_refused_attempt_to_turn_it_off_records_nothing(cast: Cast) -> None:
    _enrolled(cast.manager)
    with pytest.raises(ServiceError):
        totp_disable(user=cast.manager, code="000000", password="wrong", now=T + STEP)
    assert actions_of(cast.manager) == [AuditAction.TOTP_ON]


def test_the_operators_reset_is_recorded_as_off_by_the_system(cast: Cast) -> None:
    secret = _enrolled(cast.manager)
    call_command("user", "totp-off", "--email", cast.manager.email, stdout=StringIO())
    entry = log_of(cast.manager)[-1]
    assert (entry.action, entry.actor_id) == (AuditAction.TOTP_OFF, None)
    assert entry.note
    _assert_secret_never_logged(secret)


def test_resetting_an_enrolment_never_finished_records_no_turning_off(cast: Cast) -> None:
    totp_start(user=cast.manager)
    call_command("user", "totp-off", "--email", cast.manager.email, stdout=StringIO())
    assert not TotpDevice.objects.filter(user=cast.manager).exists()
    assert actions_of(cast.manager) == []


def test_deleting_it_in_the_admin_is_recorded_on_the_device_and_the_user(cast: Cast) -> None:
    secret = _enrolled(cast.manager)
    device = TotpDevice.objects.get(user=cast.manager)
    client = _admin(cast)
    url = reverse("admin:accounts_totpdevice_delete", args=[device.pk])
    response = client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not TotpDevice.objects.exists()
    [deleted] = log_of(device)
    assert (deleted.action, deleted.actor_id) == (AuditAction.DELETE, cast.owner.pk)
    assert set(deleted.changes) == {"user", "created_at", "confirmed_at"}  # no secret, no step
    entry = log_of(cast.manager)[-1]
    assert (entry.action, entry.actor_id) == (AuditAction.TOTP_OFF, cast.owner.pk)
    _assert_secret_never_logged(secret)


@pytest.mark.django_db(transaction=True)
def test_the_admins_bulk_delete_records_each_user_turned_off(cast: Cast) -> None:
    # A transactional test: the "delete selected" action runs outside any transaction, so the
    # admin must open its own for the entries to be written at all.
    secrets = [_enrolled(cast.manager), _enrolled(cast.head)]
    devices = list(TotpDevice.objects.all())
    response = _admin(cast).post(
        reverse("admin:accounts_totpdevice_changelist"),
        {"action": "delete_selected", "_selected_action": [d.pk for d in devices], "post": "yes"},
    )
    assert response.status_code == 302
    assert not TotpDevice.objects.exists()
    for user in (cast.manager, cast.head):
        assert actions_of(user)[-1] == AuditAction.TOTP_OFF
    for device in devices:
        assert actions_of(device) == [AuditAction.DELETE]
    for secret in secrets:
        _assert_secret_never_logged(secret)


def test_the_device_admin_shows_no_secret(cast: Cast) -> None:
    _enrolled(cast.manager)
    device = TotpDevice.objects.get(user=cast.manager)
    page = _admin(cast).get(reverse("admin:accounts_totpdevice_change", args=[device.pk]))
    assert page.status_code == 200
    assert device.secret not in page.content.decode()
