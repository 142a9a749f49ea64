"""The second login factor: TOTP secrets (RFC 6238, via pyotp), enrolment, checking a code,
switching it off, and the staff policy (CONVEYOR_TOTP_REQUIRED_FOR_STAFF).

The login steps, the enrolment page and the policy's enforcement are in conveyor/web; API tokens
are a separate credential and never ask for a code.

Turning it on and off (by the user, or reset for them) is audited on the user's record
(`AuditAction.TOTP_ON` / `TOTP_OFF`), in the same transaction; the secret never reaches the log.
"""

from __future__ import annotations

import datetime as dt

import pyotp
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from pyotp.exceptions import OTPVerificationError

from conveyor.accounts.models import Role, TotpDevice, User
from conveyor.core.audit import audit_record
from conveyor.core.errors import ServiceError
from conveyor.core.models import AuditAction

ISSUER = "Conveyor"
# One 30-second step either side of the server's: phone clocks drift and people type slowly.
VALID_WINDOW = 1


def totp_of(device: TotpDevice) -> pyotp.TOTP:
    return pyotp.TOTP(device.secret, name=device.user.email, issuer=ISSUER)


def totp_provisioning_uri(device: TotpDevice) -> str:
    """The otpauth:// address authenticator apps read (as a QR code or pasted)."""
    return totp_of(device).provisioning_uri()


def totp_active(user: User) -> bool:
    return TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


def totp_required(user: User) -> bool:
    """Whether the policy makes this user turn TOTP on before using the app."""
    return bool(settings.CONVEYOR_TOTP_REQUIRED_FOR_STAFF) and (
        user.is_staff or user.role in (Role.OWNER, Role.HEAD)
    )


def _accept(device: TotpDevice, code: str, now: dt.datetime) -> bool:
    """Check `code` and, if right, use up its time step. The caller holds the row lock, so two
    requests with one code cannot both pass."""
    code = "".join(str(code).split())  # apps show "123 456"
    if len(code) != 6 or not code.isdigit():
        return False
    try:
        step = totp_of(device).verify_and_get_timecode(
            code, for_time=now, valid_window=VALID_WINDOW
        )
    except OTPVerificationError:
        return False
    if step <= device.last_step:
        return False
    device.last_step = step
    device.save(update_fields=["last_step"])
    return True


def audit_totp(*, user: User, on: bool, by: User | None, note: str = "") -> None:
    """The entry on the user's record saying two-factor login went on or off. It carries no
    changes: the action says it all, and the device's fields (the secret) stay out of the log."""
    action = AuditAction.TOTP_ON if on else AuditAction.TOTP_OFF
    audit_record(actor=by, instance=user, action=action, changes={}, note=note)


def _wrong_code() -> ServiceError:
    return ServiceError(
        _(
            "The code is wrong or was already used. Enter the current code from the app "
            "(if it keeps failing, check the phone's clock)."
        ),
        field="code",
    )


@transaction.atomic
def totp_start(*, user: User) -> TotpDevice:
    """The user's enrolment in progress, made with a new secret if missing (reloading the page
    keeps the secret already scanned)."""
    device = TotpDevice.objects.select_for_update().filter(user=user).first()
    if device is None:
        return TotpDevice.objects.create(user=user, secret=pyotp.random_base32())
    if device.confirmed_at is not None:
        raise ServiceError(_("Two-factor login is already on."))
    return device


@transaction.atomic
def totp_confirm(*, user: User, code: str, now: dt.datetime | None = None) -> TotpDevice:
    """Turn TOTP on once the user proves the app has the secret by entering a current code."""
    now = now or timezone.now()
    device = TotpDevice.objects.select_for_update().filter(user=user).first()
    if device is None:
        raise ServiceError(_("Start again: open the two-factor login page."))
    if device.confirmed_at is not None:
        raise ServiceError(_("Two-factor login is already on."))
    if not _accept(device, code, now):
        raise _wrong_code()
    device.confirmed_at = now
    device.save(update_fields=["confirmed_at"])
    audit_totp(user=user, on=True, by=user)
    return device


@transaction.atomic
def totp_verify(*, user: User, code: str, now: dt.datetime | None = None) -> bool:
    """The login's second step: True if `code` is current and not used before (then it is
    used up); False otherwise, and for a user without active TOTP."""
    device = (
        TotpDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=False).first()
    )
    return device is not None and _accept(device, code, now or timezone.now())


@transaction.atomic
def totp_disable(*, user: User, code: str, password: str, now: dt.datetime | None = None) -> None:
    """Turn TOTP off: the password and a current code, so a left-open session cannot."""
    if not user.check_password(password):
        raise ServiceError(_("The password is wrong."), field="password")
    device = (
        TotpDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=False).first()
    )
    if device is None:
        raise ServiceError(_("Two-factor login is not on."))
    if not _accept(device, code, now or timezone.now()):
        raise _wrong_code()
    device.delete()
    audit_totp(user=user, on=False, by=user)


@transaction.atomic
def totp_reset(*, user: User, by: User | None = None) -> bool:
    """Remove the user's TOTP without a code (an administrator's action for a lost phone;
    `by` None: the server's operator); True if there was one. Only an active one is audited as
    turned off: an enrolment never finished was never on."""
    device = TotpDevice.objects.select_for_update().filter(user=user).first()
    if device is None:
        return False
    device.delete()
    if device.confirmed_at is not None:
        audit_totp(user=user, on=False, by=by, note=_("Reset without a code."))
    return True
