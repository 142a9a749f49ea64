"""Two-factor login in the web app: enrolment page, the code step at login (web and admin), reuse,
throttling, turning off and the staff policy. Codes are real (pyotp); time is chosen by computing
codes for explicit timestamps, never by freezing the clock."""

from __future__ import annotations

import datetime as dt
import time

import pyotp
import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import Settings

from conftest import PASSWORD, Cast
from conveyor.accounts.models import TotpDevice, User
from conveyor.accounts.services import token_create
from conveyor.accounts.totp import totp_active, totp_confirm, totp_start
from conveyor.api.tests.conftest import Api
from conveyor.web.login import PENDING_KEY

pytestmark = pytest.mark.django_db

IP = "10.0.0.1"


@pytest.fixture(autouse=True)
def _limits(settings: Settings) -> None:
    settings.REDIS_URL = ""
    settings.CONVEYOR_LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.CONVEYOR_LOGIN_FAILURES_PER_IP = 50


def _totp(user: User) -> pyotp.TOTP:
    return pyotp.TOTP(TotpDevice.objects.get(user=user).secret)


def _enrolled(user: User) -> pyotp.TOTP:
    """TOTP on, confirmed ten minutes ago, so codes of the present steps are all unused."""
    totp_start(user=user)
    earlier = timezone.now() - dt.timedelta(minutes=10)
    totp_confirm(user=user, code=_totp(user).at(earlier), now=earlier)
    return _totp(user)


def _wrong(totp: pyotp.TOTP) -> str:
    near = {totp.at(time.time(), counter_offset=offset) for offset in (-1, 0, 1, 2)}
    return next(
        code for code in ("000000", "111111", "222222", "333333", "444444") if code not in near
    )


def _password_step(client: Client, user: User, path: str = "/login/") -> None:
    response = client.post(path, {"username": user.email, "password": PASSWORD}, REMOTE_ADDR=IP)
    assert response.status_code == 302


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _staff(user: User) -> User:
    user.is_staff = True
    user.is_superuser = True
    user.save()
    return user


def test_header_links_to_the_two_factor_page(cast: Cast, client: Client) -> None:
    client.force_login(cast.manager)
    assert b'href="/account/two-factor/"' in client.get("/board/").content


def test_enrolment_shows_the_secret_and_turns_on_only_with_the_right_code(
    cast: Cast, client: Client
) -> None:
    client.force_login(cast.manager)
    page = client.get("/account/two-factor/")
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    secret = TotpDevice.objects.get(user=cast.manager).secret
    body = page.content.decode()
    assert secret in body
    assert "otpauth://totp/Conveyor:manager%40example.com?secret=" + secret in body
    assert 'src="data:image/svg+xml' in body
    totp = pyotp.TOTP(secret)

    refused = client.post("/account/two-factor/", {"code": _wrong(totp)})
    assert refused.status_code == 400
    assert not totp_active(cast.manager)
    # The page shows the same secret again, so the app that scanned it stays right.
    assert secret in refused.content.decode()

    done = client.post("/account/two-factor/", {"code": totp.now()})
    assert done.status_code == 302
    assert totp_active(cast.manager)
    after = client.get("/account/two-factor/").content.decode()
    assert secret not in after
    assert "/account/two-factor/off/" in after


def test_password_alone_does_not_log_in_a_user_with_totp(cast: Cast) -> None:
    owner = _staff(cast.owner)
    totp = _enrolled(owner)
    client = Client()
    response = client.post(
        "/login/?next=/inbox/", {"username": owner.email, "password": PASSWORD}, REMOTE_ADDR=IP
    )
    assert response["Location"] == "/login/code/"
    assert not _logged_in(client)
    assert client.get("/board/")["Location"].startswith("/login/")
    assert client.get("/admin/").status_code == 302
    assert not _logged_in(client)

    done = client.post("/login/code/", {"code": totp.now()}, REMOTE_ADDR=IP)
    assert done.status_code == 302
    assert done["Location"] == "/inbox/"
    assert _logged_in(client)
    assert client.get("/board/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_the_password_step_gives_a_new_session_key(cast: Cast) -> None:
    _enrolled(cast.manager)
    client = Client()
    planted = client.session
    planted["seen"] = True
    planted.save()
    _password_step(client, cast.manager)
    assert client.session.session_key != planted.session_key
    assert PENDING_KEY in client.session


def test_the_admin_login_form_cannot_skip_the_code(cast: Cast) -> None:
    owner = _staff(cast.owner)
    _enrolled(owner)
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": owner.email, "password": PASSWORD, "next": "/admin/"},
        REMOTE_ADDR=IP,
    )
    assert not _logged_in(client)
    assert response["Location"].startswith("/login/?next=/admin/")
    assert client.get("/admin/").status_code == 302


def test_the_admin_login_sends_people_through_the_two_steps(cast: Cast) -> None:
    owner = _staff(cast.owner)
    totp = _enrolled(owner)
    client = Client()
    start = client.get("/admin/", follow=True)
    assert start.redirect_chain[-1][0] == "/login/?next=/admin/"
    _password_step(client, owner, "/login/?next=/admin/")
    done = client.post("/login/code/", {"code": totp.now()}, REMOTE_ADDR=IP)
    assert done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_used_code_cannot_log_in_again(cast: Cast) -> None:
    totp = _enrolled(cast.manager)
    code = totp.now()
    first = Client()
    _password_step(first, cast.manager)
    first.post("/login/code/", {"code": code}, REMOTE_ADDR=IP)
    assert _logged_in(first)

    second = Client()
    _password_step(second, cast.manager)
    response = second.post("/login/code/", {"code": code}, REMOTE_ADDR=IP)
    assert response.status_code == 400
    assert not _logged_in(second)
    assert second.get("/board/").status_code == 302
    # The next step's code is fresh.
    second.post("/login/code/", {"code": totp.at(time.time() + 30)}, REMOTE_ADDR=IP)
    assert _logged_in(second)


def test_wrong_codes_are_throttled_like_failed_logins(cast: Cast) -> None:
    totp = _enrolled(cast.manager)
    client = Client()
    _password_step(client, cast.manager)
    for _attempt in range(3):
        assert (
            client.post("/login/code/", {"code": _wrong(totp)}, REMOTE_ADDR=IP).status_code == 400
        )
    response = client.post("/login/code/", {"code": totp.now()}, REMOTE_ADDR=IP)
    assert not _logged_in(client)
    assert b"Too many failed logins" in response.content
    # The same counter locks the password step for this account.
    locked = Client().post(
        "/login/", {"username": cast.manager.email, "password": PASSWORD}, REMOTE_ADDR="10.0.0.7"
    )
    assert b"Too many failed logins" in locked.content


def test_the_code_step_expires(cast: Cast) -> None:
    totp = _enrolled(cast.manager)
    client = Client()
    _password_step(client, cast.manager)
    session = client.session
    session[PENDING_KEY] = {**session[PENDING_KEY], "until": time.time() - 1}
    session.save()
    response = client.post("/login/code/", {"code": totp.now()}, REMOTE_ADDR=IP)
    assert response["Location"] == "/login/"
    assert not _logged_in(client)
    assert PENDING_KEY not in client.session


def test_the_code_step_without_a_password_goes_back_to_login(cast: Cast, client: Client) -> None:
    totp = _enrolled(cast.manager)
    response = client.post("/login/code/", {"code": totp.now()}, REMOTE_ADDR=IP)
    assert response["Location"] == "/login/"
    assert not _logged_in(client)


def test_turning_off_needs_a_current_code_and_the_password(cast: Cast, client: Client) -> None:
    totp = _enrolled(cast.manager)
    client.force_login(cast.manager)
    no_code = client.post("/account/two-factor/off/", {"code": _wrong(totp), "password": PASSWORD})
    assert no_code.status_code == 400
    no_password = client.post("/account/two-factor/off/", {"code": totp.now(), "password": "x"})
    assert no_password.status_code == 400
    assert totp_active(cast.manager)
    done = client.post("/account/two-factor/off/", {"code": totp.now(), "password": PASSWORD})
    assert done.status_code == 302
    assert not totp_active(cast.manager)


def test_guesses_on_the_turn_off_form_are_throttled(cast: Cast, client: Client) -> None:
    totp = _enrolled(cast.manager)
    client.force_login(cast.manager)
    for _attempt in range(3):
        client.post("/account/two-factor/off/", {"code": totp.now(), "password": "guess"})
    response = client.post("/account/two-factor/off/", {"code": totp.now(), "password": PASSWORD})
    assert b"Too many failed logins" in response.content
    assert totp_active(cast.manager)


def test_users_without_totp_log_in_with_the_password_as_before(cast: Cast) -> None:
    client = Client()
    response = client.post(
        "/login/", {"username": cast.manager.email, "password": PASSWORD}, REMOTE_ADDR=IP
    )
    assert response["Location"] == "/"
    assert _logged_in(client)
    assert client.get("/board/").status_code == 200


def test_policy_makes_staff_enrol_before_using_the_app(cast: Cast, settings: Settings) -> None:
    settings.CONVEYOR_TOTP_REQUIRED_FOR_STAFF = True
    head = _staff(cast.head)
    client = Client()
    _password_step(client, head)
    board = client.get("/board/")
    assert board["Location"] == "/account/two-factor/?next=/board/"
    assert client.get("/admin/")["Location"].startswith("/account/two-factor/")
    page = client.get("/account/two-factor/?next=/board/")
    assert page.status_code == 200
    assert "Your role needs two-factor login" in page.content.decode()

    done = client.post("/account/two-factor/?next=/board/", {"code": _totp(head).now()})
    assert done["Location"] == "/board/"
    assert client.get("/board/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_policy_leaves_managers_alone_and_is_off_by_default(cast: Cast, settings: Settings) -> None:
    manager = Client()
    manager.force_login(cast.manager)
    head = Client()
    head.force_login(cast.head)
    assert head.get("/board/").status_code == 200
    settings.CONVEYOR_TOTP_REQUIRED_FOR_STAFF = True
    assert manager.get("/board/").status_code == 200
    assert head.get("/board/").status_code == 302


def test_api_tokens_need_no_code(cast: Cast) -> None:
    _enrolled(cast.manager)
    raw = token_create(user=cast.manager, name="script").raw
    assert Api(raw).get("/api/v1/deals").status_code == 200
