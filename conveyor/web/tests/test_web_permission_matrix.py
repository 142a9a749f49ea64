"""Every route of the web UI, for the owner, the head of team A, the manager of team A who owns
the records, a manager of team B (the outsider) and an anonymous visitor.

The routes come from the running URL map (`web_routes`), so a page added tomorrow fails
`test_every_route_is_in_the_matrix` until someone says here who may use it. For each route
and role the matrix declares what a GET answers and, for a route that takes a POST, what a
plausible POST answers (the page's own form, filled in as its user would):

- a record the visitor may not see looks missing (404); a settings screen says no (403);
  anonymous visitors are sent to the login page; public routes answer everyone;
- a refused request (GET or POST) leaves every table of the app exactly as it was, and an
  allowed POST really changes it (so the data posted is plausible, and the refusals prove
  something);
- whatever the outsider may open (lists, reports, exports, the dashboard and its PDF) holds
  none of the manager's records: each of their texts is a unique marker, looked for in the
  body (inside XLSX and zip files too).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.db import transaction
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from conftest import Cast
from conveyor.core.models import RateCounter
from conveyor.testing.web_world import (
    Ctx,
    Post,
    Visit,
    WebWorld,
    build_world,
    fake_chromium,
    routes,
    web_routes,
)

pytestmark = pytest.mark.django_db

ROLES = ("owner", "head", "manager", "outsider", "anonymous")


@dataclass(frozen=True)
class Expect:
    """What one role gets: the status, whether it is a redirect to the login page, and whether
    the database must change (True), must not (False) or may (None: a page that prepares
    something of the visitor's own, such as the two-factor secret)."""

    status: int
    login: bool = False
    changes: bool | None = False

    def __str__(self) -> str:
        if self.login:
            return "redirect to login"
        return f"{self.status}{' and a change' if self.changes else ''}"


OK = Expect(200)
LOGIN = Expect(302, login=True)
FORBIDDEN = Expect(403)
MISSING = Expect(404)
NOT_ALLOWED = Expect(405)  # a POST-only address opened with GET
REDIRECT = Expect(302)  # somewhere else than the login page, nothing changed


def done(status: int = 302) -> Expect:
    """Allowed, and the post changed the database."""
    return Expect(status, changes=True)


def refused(status: int) -> Expect:
    """Answered (a form error, a message) but nothing changed."""
    return Expect(status)


def each(
    owner: Expect, head: Expect, manager: Expect, outsider: Expect, anonymous: Expect
) -> dict[str, Expect]:
    return dict(zip(ROLES, (owner, head, manager, outsider, anonymous), strict=True))


def users(expect: Expect) -> dict[str, Expect]:
    """Every logged-in user gets `expect`; anonymous visitors go to the login page."""
    return each(expect, expect, expect, expect, LOGIN)


def record(expect: Expect) -> dict[str, Expect]:
    """The manager's record: theirs, their head's and the owner's; missing for the outsider."""
    return each(expect, expect, expect, MISSING, LOGIN)


def settings_screen(expect: Expect) -> dict[str, Expect]:
    """Owners and heads of sales only; managers are told no."""
    return each(expect, expect, FORBIDDEN, FORBIDDEN, LOGIN)


def public(expect: Expect) -> dict[str, Expect]:
    return each(expect, expect, expect, expect, expect)


@dataclass(frozen=True)
class Rule:
    """Who may use a route: its GET, and its POST (None: the route takes no POST)."""

    get: dict[str, Expect]
    post: dict[str, Expect] | None = None


ALL = users(OK)
RECORD = record(OK)
SETTINGS = settings_screen(OK)
POST_ONLY = users(NOT_ALLOWED)


def settings_form(status: int = 302) -> Rule:
    """A settings page with its form: saved by owners and heads, refused to managers."""
    return Rule(SETTINGS, settings_screen(done(status)))


MATRIX: dict[str, Rule] = {
    # --- Logging in and the visitor's own account ---
    "web:login": Rule(
        each(REDIRECT, REDIRECT, REDIRECT, REDIRECT, OK),  # a wrong password is shown again
        each(REDIRECT, REDIRECT, REDIRECT, REDIRECT, refused(200)),
    ),
    "web:login-code": Rule(public(LOGIN), public(LOGIN)),  # no password step pending
    "web:logout": Rule(public(NOT_ALLOWED), public(Expect(302, login=True))),
    "admin/login/": Rule(each(FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN)),  # not staff
    "set_language": Rule(
        public(NOT_ALLOWED), each(done(), done(), done(), done(), REDIRECT)
    ),  # saved on the account of whoever is logged in; a cookie for anonymous visitors
    "web:tokens": Rule(ALL, users(done(200))),
    "web:token-revoke": Rule(POST_ONLY, each(MISSING, MISSING, done(), MISSING, LOGIN)),
    # The enrolment page makes the visitor's own secret; a wrong code turns nothing on.
    "web:totp": Rule(users(Expect(200, changes=None)), users(Expect(400, changes=None))),
    "web:totp-off": Rule(POST_ONLY, users(refused(400))),
    # --- Working pages: every user, showing what they may see ---
    "web:home": Rule(users(REDIRECT)),
    "web:board": Rule(ALL),
    "web:board-pipeline": Rule(ALL),
    "web:board-cards": Rule(ALL),
    "web:board-deal-action": Rule(POST_ONLY, record(done(200))),
    "web:attention": Rule(ALL),
    "web:agenda": Rule(ALL),
    "web:agenda-calendar-key": Rule(POST_ONLY, users(done())),
    "web:agenda-action": Rule(POST_ONLY, record(done())),
    "web:deal": Rule(RECORD),
    "web:deal-action": Rule(POST_ONLY, record(done())),
    "web:deal-edit": Rule(RECORD, record(done())),
    # The inbox is shared; accepting a lead for the manager is not the outsider's to do.
    "web:inbox": Rule(ALL),
    "web:inbox-bulk": Rule(POST_ONLY, each(done(), done(), done(), refused(302), LOGIN)),
    # A handled lead is seen with its deal: the manager's lead is missing for the outsider.
    "web:lead": Rule(RECORD),
    "web:lead-action": Rule(POST_ONLY, each(done(), done(), done(), refused(400), LOGIN)),
    "web:lead-new": Rule(ALL, users(done())),
    "web:people": Rule(ALL),
    "web:people-bulk": Rule(POST_ONLY, each(done(), done(), done(), refused(302), LOGIN)),
    "web:deals": Rule(ALL),
    # Handing a deal to the head: the owner may, the head may (to themselves); managers not.
    "web:deals-bulk": Rule(POST_ONLY, each(done(), done(), refused(302), refused(302), LOGIN)),
    "web:companies": Rule(ALL),
    # The person page's POST erases: owners and heads; the manager is refused on the form.
    "web:person": Rule(RECORD, each(done(), done(), refused(400), MISSING, LOGIN)),
    "web:person-erase": Rule(RECORD, each(done(), done(), refused(400), MISSING, LOGIN)),
    "web:person-touch": Rule(POST_ONLY, record(done())),
    "web:person-referral": Rule(POST_ONLY, record(done())),
    "web:person-edit": Rule(RECORD, record(done())),
    "web:person-export-json": Rule(RECORD),
    "web:person-export-csv": Rule(RECORD),
    # Merging people the outsider may not see is refused on the form.
    "web:person-merge": Rule(ALL, each(done(), done(), done(), refused(400), LOGIN)),
    "web:dashboard": Rule(ALL),
    "web:reports": Rule(ALL),
    "web:funnel": Rule(ALL),
    "web:report": Rule(ALL),
    # --- Settings: owners and heads of sales ---
    "web:lead-forms": settings_form(),
    "web:lead-form": Rule(SETTINGS),
    "web:lead-form-edit": settings_form(),
    "web:crm-import": Rule(SETTINGS, settings_screen(REDIRECT)),  # the upload waits, unwritten
    "web:crm-import-preview": settings_form(),
    "web:crm-import-done": Rule(SETTINGS),
    "web:crm-import-report": Rule(SETTINGS),
    "web:settings": Rule(SETTINGS),
    "web:settings-segments": Rule(SETTINGS),
    "web:settings-segment-new": settings_form(),
    "web:settings-segment": settings_form(),
    "web:settings-pipelines": Rule(SETTINGS),
    "web:settings-pipeline-new": settings_form(),
    "web:settings-pipeline": settings_form(),
    "web:settings-stage-order": Rule(POST_ONLY, settings_screen(done())),
    "web:settings-stage-new": settings_form(),
    "web:settings-stage": settings_form(),
    "web:settings-loss-reasons": Rule(SETTINGS),
    "web:settings-loss-reason-new": settings_form(),
    "web:settings-loss-reason": settings_form(),
    "web:settings-questions": Rule(SETTINGS),
    "web:settings-question-new": settings_form(),
    "web:settings-question": settings_form(),
    "web:settings-routing": Rule(SETTINGS),
    "web:settings-routing-rule-new": settings_form(),
    "web:settings-routing-rule": settings_form(),
    "web:settings-cadences": Rule(SETTINGS),
    "web:settings-cadence-new": settings_form(),
    "web:settings-cadence": settings_form(),
    "web:settings-step-new": settings_form(),
    "web:settings-step": settings_form(),
    "web:settings-step-remove": Rule(POST_ONLY, settings_screen(done())),
    "web:settings-rules": Rule(SETTINGS),
    "web:settings-rule-new": settings_form(),
    "web:settings-rule": settings_form(),
    "web:settings-users": Rule(SETTINGS),
    "web:settings-user-new": settings_form(),
    "web:settings-user": settings_form(),  # the manager is one of the head's team
    "web:settings-teams": Rule(SETTINGS),
    "web:settings-team-new": settings_form(),
    "web:settings-team": settings_form(),  # team A, which the head heads
    "web:settings-plans": Rule(SETTINGS),
    "web:settings-plan-new": settings_form(),
    "web:settings-plan": settings_form(),
    "web:settings-expenses": Rule(SETTINGS),
    "web:settings-expense-new": settings_form(),
    "web:settings-expense": settings_form(),
    "web:settings-holidays": Rule(SETTINGS),
    "web:settings-holiday-new": settings_form(),
    "web:settings-holiday": settings_form(),
    "web:settings-holiday-delete": Rule(POST_ONLY, settings_screen(done())),
    "web:settings-email-templates": Rule(SETTINGS),
    "web:settings-email-template-new": settings_form(),
    "web:settings-email-template": settings_form(),
    "web:settings-webhooks": Rule(SETTINGS),
    # A new webhook and a rotated secret are answered with the secret's one showing (200).
    "web:settings-webhook-new": settings_form(200),
    "web:settings-webhook": settings_form(),
    "web:settings-webhook-rotate": Rule(POST_ONLY, settings_screen(done(200))),
    # --- Public: the key in the address is the credential ---
    "web:calendar-feed": Rule(public(OK)),
    "web:public-form": Rule(public(OK), public(done(200))),
}

# Public routes answer with what the key in their address unlocks, to whoever has it.
PUBLIC_ROUTES = {"web:calendar-feed", "web:public-form"}

# What a refused request may still write: failed logins are counted.
NOT_COMPARED: tuple[type[Model], ...] = (RateCounter,)


# Phones are markers too, but must stay phones (accepting a lead checks its phone).
PHONES = {"person.phone": "+359888100001", "lead.phone": "+359888100002"}


def _label(key: str, limit: int) -> str:
    """A unique marker per text (an e-mail address or a phone where one is expected)."""
    if key in PHONES:
        return PHONES[key]
    return f"mx-{key}@example.org" if key.endswith("email") else f"mx-{key}"[:limit]


@pytest.fixture(autouse=True)
def _files(settings: Settings, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path / "data"
    settings.CONVEYOR_CHROMIUM = fake_chromium(tmp_path)
    settings.REDIS_URL = ""


@pytest.fixture
def world(cast: Cast) -> WebWorld:
    return build_world(
        owner=cast.owner,
        head=cast.head,
        manager=cast.manager,
        outsider=cast.outsider,
        label=_label,
    )


def _ctx(world: WebWorld, role: str) -> Ctx:
    client = Client()
    user = None if role == "anonymous" else getattr(world, role)
    if user is not None:
        client.force_login(user)
    return Ctx(world=world, client=client, user=user)


def _state() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the app."""
    return {
        model._meta.label: list(model._default_manager.order_by("pk").values_list())
        for model in apps.get_models()
        if model.__module__.startswith("conveyor.") and model not in NOT_COMPARED
    }


def _body(response: Any) -> str:
    """The text of a response, XLSX and zip files unpacked."""
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if content.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            content = b"".join(archive.read(name) for name in archive.namelist())
    return content.decode(errors="replace")


def _said(body: str) -> str:
    """The errors and messages a page shows, to say why a request was refused."""
    found = re.findall(r'<ul class="(?:errorlist[^"]*|messages)"[^>]*>(.*?)</ul>', body, re.DOTALL)
    return " | ".join(re.sub(r"<[^>]+>", " ", text).strip() for text in found) or body[:300]


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [table for table in before if before[table] != after[table]]


def _check(response: Any, expect: Expect, before: dict[str, Any], *, what: str) -> str:
    body = _body(response)
    if response.status_code != expect.status:
        raise AssertionError(f"{what}: {response.status_code}, not {expect}: {_said(body)}")
    if expect.login:
        assert response.headers["Location"].startswith(reverse("web:login")), what
    elif expect.status == 302:
        location = response.headers["Location"]
        assert not location.startswith(reverse("web:login")), f"{what}: sent to {location}"
    changed = _changed(before, _state())
    if expect.changes is False and changed:
        raise AssertionError(f"{what}: refused, but changed {changed}")
    if expect.changes and not changed:
        raise AssertionError(f"{what}: allowed, but nothing changed: {_said(body)}")
    return body


def _nothing_of_the_manager(world: WebWorld, body: str, *, what: str) -> None:
    leaked = [key for key, text in world.private_texts().items() if text in body]
    assert not leaked, f"{what} shows the outsider the manager's {', '.join(leaked)}"


def test_every_route_is_in_the_matrix() -> None:
    found = web_routes()
    missing = [name for name in found if name not in MATRIX]
    assert not missing, "\n".join(
        f"route {name} ({found[name]}) is not in the matrix: say who may use it" for name in missing
    )
    assert not set(MATRIX) - set(found), "the matrix names routes that no longer exist"
    unused = [name for name in found if name not in routes()]
    assert not unused, f"no way to open {unused} in conveyor/testing/web_world.py `routes()`"
    posting = {name for name, rule in MATRIX.items() if rule.post is not None}
    assert posting == {name for name, use in routes().items() if use.post is not None}


def _get(ctx: Ctx, visit: Visit) -> Any:
    return ctx.client.get(visit.path, visit.query, headers=visit.headers)


def _as_each_role(world: WebWorld, visit: Callable[[str], None]) -> None:
    """Run `visit(role)` for every role, each in a savepoint rolled back afterwards (so one
    role's allowed change does not alter what the next one finds), and report every role
    that got something else than the matrix says."""
    failures = []
    for role in ROLES:
        with transaction.atomic():
            try:
                visit(role)
            except AssertionError as failure:
                failures.append(f"{role}: {failure}")
            transaction.set_rollback(True)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("route", sorted(MATRIX))
def test_a_get_answers_each_role_as_the_matrix_says(world: WebWorld, route: str) -> None:
    def visit(role: str) -> None:
        expect = MATRIX[route].get[role]
        ctx = _ctx(world, role)
        for target in routes()[route].gets(ctx):
            before = _state()
            what = f"GET {target}"
            body = _check(_get(ctx, target), expect, before, what=what)
            if role == "outsider" and route not in PUBLIC_ROUTES:
                _nothing_of_the_manager(world, body, what=what)

    _as_each_role(world, visit)


@pytest.mark.parametrize("route", sorted(route for route, rule in MATRIX.items() if rule.post))
def test_a_post_answers_each_role_as_the_matrix_says(world: WebWorld, route: str) -> None:
    def visit(role: str) -> None:
        rule = MATRIX[route].post
        use = routes()[route].post
        assert rule is not None and use is not None
        ctx = _ctx(world, role)
        post: Post = use(ctx)
        before = _state()
        response = ctx.client.post(post.path, post.data, headers=post.headers)
        body = _check(response, rule[role], before, what=str(post))
        if role == "outsider" and route not in PUBLIC_ROUTES:
            _nothing_of_the_manager(world, body, what=str(post))

    _as_each_role(world, visit)


# Downloads that list the manager's records, with a text each must hold for the manager.
EXPORTS = [
    ("/people/", {"format": "csv"}, "person.name"),
    ("/deals/", {"format": "csv"}, "deal.title"),
    ("/companies/", {"format": "csv"}, "company.name"),
    ("/dashboard/", {}, "deal.title"),
    ("/dashboard/", {"format": "xlsx"}, "deal.title"),
    ("/dashboard/", {"format": "pdf"}, "deal.title"),
    ("/reports/discipline/", {"format": "xlsx"}, "deal.title"),
]


@pytest.mark.parametrize(("path", "query", "key"), EXPORTS)
def test_an_export_lists_the_managers_records_to_them_but_not_to_the_outsider(
    world: WebWorld, path: str, query: dict[str, str], key: str
) -> None:
    text = world.texts[key]
    assert text in _body(_ctx(world, "manager").client.get(path, query))
    assert text in _body(_ctx(world, "head").client.get(path, query))
    outsider = _ctx(world, "outsider").client.get(path, query)
    assert outsider.status_code == 200
    _nothing_of_the_manager(world, _body(outsider), what=f"{path} {query}")
