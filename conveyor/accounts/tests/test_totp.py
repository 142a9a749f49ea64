"""TOTP services with explicit times: real codes from pyotp at chosen instants, no clock mocks."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pyotp
import pytest
from django.core.management import call_command
from pytest_django import Settings

from conftest import PASSWORD, Cast
from conveyor.accounts.models import TotpDevice, User
from conveyor.accounts.totp import (
    totp_active,
    totp_confirm,
    totp_disable,
    totp_provisioning_uri,
    totp_required,
    totp_start,
    totp_verify,
)
from conveyor.core.errors import ServiceError

pytestmark = pytest.mark.django_db

# A whole 30-second step, so T + 30·n is step n after T's.
T = dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(seconds=30)


def _code(user: User, at: dt.datetime) -> str:
    return pyotp.TOTP(TotpDevice.objects.get(user=user).secret).at(at)


def _enrolled(user: User) -> User:
    totp_start(user=user)
    totp_confirm(user=user, code=_code(user, T), now=T)
    return user


def test_start_keeps_the_secret_until_confirmed_and_gives_an_otpauth_uri(cast: Cast) -> None:
    first = totp_start(user=cast.manager)
    assert totp_start(user=cast.manager).secret == first.secret
    uri = totp_provisioning_uri(first)
    assert uri.startswith("otpauth://totp/Conveyor:manager%40example.com?secret=")
    assert f"secret={first.secret}" in uri
    assert not totp_active(cast.manager)


def test_confirm_refuses_a_wrong_code_and_accepts_the_current_one(cast: Cast) -> None:
    totp_start(user=cast.manager)
    right = _code(cast.manager, T)
    wrong = "000000" if right != "000000" else "111111"
    with pytest.raises(ServiceError) as refused:
        totp_confirm(user=cast.manager, code=wrong, now=T)
    assert refused.value.field == "code"
    assert not totp_active(cast.manager)
    totp_confirm(user=cast.manager, code=right, now=T)
    assert totp_active(cast.manager)
    with pytest.raises(ServiceError):
        totp_start(user=cast.manager)


def test_a_code_works_one_step_either_side_and_not_further(cast: Cast) -> None:
    _enrolled(cast.manager)
    late = T + 10 * STEP
    assert not totp_verify(user=cast.manager, code=_code(cast.manager, late - 2 * STEP), now=late)
    assert not totp_verify(user=cast.manager, code=_code(cast.manager, late + 2 * STEP), now=late)
    assert totp_verify(user=cast.manager, code=_code(cast.manager, late - STEP), now=late)
    assert totp_verify(user=cast.manager, code=_code(cast.manager, late + STEP), now=late)


def test_a_code_is_used_up_and_older_steps_stay_refused(cast: Cast) -> None:
    _enrolled(cast.manager)
    now = T + 5 * STEP
    code = _code(cast.manager, now)
    assert totp_verify(user=cast.manager, code=code, now=now)
    assert not totp_verify(user=cast.manager, code=code, now=now)
    # The step before is still inside the window but older than the code used.
    assert not totp_verify(user=cast.manager, code=_code(cast.manager, now - STEP), now=now)
    assert totp_verify(user=cast.manager, code=_code(cast.manager, now + STEP), now=now + STEP)


def test_the_enrolment_code_cannot_log_in(cast: Cast) -> None:
    _enrolled(cast.manager)
    assert not totp_verify(user=cast.manager, code=_code(cast.manager, T), now=T)


def test_codes_are_checked_only_for_active_totp(cast: Cast) -> None:
    totp_start(user=cast.manager)
    assert not totp_verify(user=cast.manager, code=_code(cast.manager, T), now=T)
    assert not totp_verify(user=cast.head, code="123456", now=T)


def test_codes_typed_with_a_space_are_accepted(cast: Cast) -> None:
    _enrolled(cast.manager)
    code = _code(cast.manager, T + STEP)
    assert totp_verify(user=cast.manager, code=f" {code[:3]} {code[3:]} ", now=T + STEP)


def test_turning_off_needs_the_password_and_a_current_code(cast: Cast) -> None:
    _enrolled(cast.manager)
    now = T + 4 * STEP
    with pytest.raises(ServiceError) as wrong_password:
        totp_disable(user=cast.manager, code=_code(cast.manager, now), password="nope", now=now)
    assert wrong_password.value.field == "password"
    with pytest.raises(ServiceError) as wrong_code:
        totp_disable(user=cast.manager, code=_code(cast.manager, T), password=PASSWORD, now=now)
    assert wrong_code.value.field == "code"
    assert totp_active(cast.manager)
    totp_disable(user=cast.manager, code=_code(cast.manager, now), password=PASSWORD, now=now)
    assert not totp_active(cast.manager)
    assert not TotpDevice.objects.filter(user=cast.manager).exists()


def test_policy_covers_staff_owners_and_heads_only_when_switched_on(
    cast: Cast, settings: Settings
) -> None:
    cast.outsider.is_staff = True
    assert not any(totp_required(user) for user in (cast.owner, cast.head, cast.outsider))
    settings.CONVEYOR_TOTP_REQUIRED_FOR_STAFF = True
    assert totp_required(cast.owner)
    assert totp_required(cast.head)
    assert totp_required(cast.outsider)  # a manager made staff
    assert not totp_required(cast.manager)


def test_user_command_turns_totp_off_for_a_lost_phone(cast: Cast) -> None:
    _enrolled(cast.manager)
    out = StringIO()
    call_command("user", "totp-off", "--email", "Manager@example.com", stdout=out)
    assert "off for manager@example.com" in out.getvalue()
    assert not totp_active(cast.manager)
