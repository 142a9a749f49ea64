"""Accessibility in the real browser (issue 5: keyboard friendly, labels, contrast, focus).

axe-core, the audit engine from the npm registry (a devDependency in frontend/package.json,
never served to users), checks the main screens against WCAG 2.0 and 2.1 levels A and AA, in
English and in Russian; the keyboard tests check that the first Tab stop is "Skip to content"
and that it moves focus into the page, and that every Tab stop shows where the focus is.

Our Content-Security-Policy refuses inline scripts, so axe is not added as a <script> tag: its
source is evaluated through the browser's DevTools protocol, which the page's policy does not
govern, and the pages are checked exactly as users get them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse

from conveyor.accounts.models import User
from conveyor.intake.models import Lead
from conveyor.intake.services import form_create
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, DealStatus, Pipeline
from conveyor.testing.browser import BROWSER, PASSWORD, log_in

pytestmark = BROWSER

AXE = Path(settings.FRONTEND_PACKAGES) / "axe-core" / "axe.min.js"
# WCAG 2.0 and 2.1, levels A and AA: the level the EU's EN 301 549 asks for.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# axe files these under "best practice", but a screen-reader user navigates by them: one main
# region holding the content, headings from h1 down without gaps, a skip link that lands.
STRUCTURE_RULES = [
    "landmark-one-main",
    "landmark-unique",
    "region",
    "page-has-heading-one",
    "heading-order",
    "skip-link",
]
# What axe cannot decide alone ("incomplete") but is a defect wherever it shows on our pages: two
# fields with one id (a label then names the wrong field), a description that points nowhere.
INCOMPLETE_IS_A_FAILURE = {
    "duplicate-id-aria",
    "form-field-multiple-labels",
    "aria-valid-attr-value",
}
# Violations left on purpose, as (rule id, target selector) pairs, each with its reason; none now.
KNOWN: set[tuple[str, str]] = set()

PIPELINE = "Small business / first sale"


def _audit(page: Any, screen: str) -> list[str]:
    """axe's findings on the page shown now, one readable line per failing element."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """([tags, extra]) => axe.run(document, {
            runOnly: {type: 'tag', values: tags},
            rules: Object.fromEntries(extra.map(rule => [rule, {enabled: true}])),
        })""",
        [WCAG_TAGS, STRUCTURE_RULES],
    )
    findings = result["violations"] + [
        rule for rule in result["incomplete"] if rule["id"] in INCOMPLETE_IS_A_FAILURE
    ]
    lines = []
    for rule in findings:
        for node in rule["nodes"]:
            target = " ".join(str(part) for part in node["target"])
            if (rule["id"], target) in KNOWN:
                continue
            why = " ".join(node.get("failureSummary", "").split())
            lines.append(f"{screen}: {rule['id']} ({rule['impact']}) at {target} — {why}")
    return lines


def _visit(page: Any, url: str, language: str) -> None:
    response = page.goto(url)
    assert response is not None and response.ok, f"{url}: {response and response.status}"
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.lang") == language, url


def _screens() -> list[tuple[str, str]]:
    """The main screens an owner works with, as (name, address)."""
    deal = Deal.objects.filter(status=DealStatus.OPEN).order_by("pk").first()
    person = Person.objects.filter(deals__status=DealStatus.OPEN).order_by("pk").first()
    pipeline = Pipeline.objects.get(name=PIPELINE)
    user = User.objects.get(email="boss@example.com")
    lead = Lead.objects.order_by("pk").first()
    assert deal and person and lead
    year = f"pipeline_id={pipeline.pk}&date_from=2026-01-01&date_to=2027-01-01"
    return [
        ("dashboard", reverse("web:dashboard")),
        ("inbox", reverse("web:inbox")),
        ("new lead", reverse("web:lead-new")),
        ("lead page", reverse("web:lead", args=[lead.pk])),
        ("agenda", reverse("web:agenda")),
        ("needs attention", reverse("web:attention")),
        ("board", reverse("web:board")),
        ("deal page", reverse("web:deal", args=[deal.pk])),
        ("person page", reverse("web:person", args=[person.pk])),
        ("people list", reverse("web:people")),
        ("deals list", reverse("web:deals")),
        ("companies list", reverse("web:companies")),
        ("reports", reverse("web:reports")),
        ("funnel report", f"{reverse('web:funnel')}?{year}"),
        ("funnel comparison", f"{reverse('web:report', args=['funnel-compare'])}?{year}"),
        ("settings", reverse("web:settings")),
        ("settings: a user", reverse("web:settings-user", args=[user.pk])),
        ("settings: a pipeline", reverse("web:settings-pipeline", args=[pipeline.pk])),
        ("settings: a new rule", reverse("web:settings-rule-new")),
        ("settings: holidays", reverse("web:settings-holidays")),
        ("settings: a new holiday", reverse("web:settings-holiday-new")),
        ("settings: a new e-mail template", reverse("web:settings-email-template-new")),
        ("settings: webhooks", reverse("web:settings-webhooks")),
        ("settings: a new webhook", reverse("web:settings-webhook-new")),
        ("web forms", reverse("web:lead-forms")),
        ("two-factor login", reverse("web:totp")),
    ]


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_main_screens_have_no_wcag_violations(
    language: str, demo_company: None, live_server: Any, page: Any
) -> None:
    base = str(live_server.url)
    pipeline = Pipeline.objects.get(name=PIPELINE)
    form = form_create(name="Website request", by=None, pipeline=pipeline)
    User.objects.filter(email="boss@example.com").update(language=language)
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": base}]
    )
    found: list[str] = []

    _visit(page, f"{base}{reverse('web:public-form', args=[form.key])}", language)
    found += _audit(page, "public web form")
    _visit(page, f"{base}/login/", language)
    found += _audit(page, "login")
    page.locator("#id_username").fill("boss@example.com")
    page.locator("#id_password").fill("not the password")
    page.locator("#id_password").press("Enter")
    page.wait_for_load_state("networkidle")
    found += _audit(page, "login refused")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password").press("Enter")
    page.wait_for_url(lambda url: "/login/" not in url)

    for screen, address in _screens():
        _visit(page, f"{base}{address}", language)
        found += _audit(page, screen)
        if screen == "board" and page.locator(".deal-card summary").count():
            # A card's quick touch form, opened as a user would.
            page.locator(".deal-card summary").first.click()
            found += _audit(page, "board: quick touch")

    assert not found, f"{len(found)} accessibility violations:\n" + "\n".join(found)


def _tab(page: Any) -> dict[str, Any]:
    """Press Tab; what has the focus now and how it is drawn."""
    page.keyboard.press("Tab")
    return dict(
        page.evaluate(
            """() => {
                const el = document.activeElement;
                const style = getComputedStyle(el);
                const box = el.getBoundingClientRect();
                return {
                    tag: el.tagName.toLowerCase(),
                    id: el.id,
                    classes: el.className,
                    text: (el.innerText || el.value || '').trim().slice(0, 40),
                    inMain: !!el.closest('main'),
                    ring: (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2)
                        || style.boxShadow !== 'none',
                    onScreen: box.width > 1 && box.height > 1 && box.top >= 0
                        && box.left >= 0 && box.bottom <= innerHeight,
                };
            }"""
        )
    )


def test_the_first_tab_stop_skips_to_the_content(
    demo_company: None, live_server: Any, page: Any
) -> None:
    base = str(live_server.url)
    # The login page needs no skip: it opens with the focus already in its e-mail field.
    page.goto(f"{base}/login/")
    assert page.evaluate("document.activeElement.id") == "id_username"

    log_in(page, base)
    page.goto(f"{base}{reverse('web:dashboard')}")
    first = _tab(page)
    assert (first["classes"], first["text"], first["onScreen"]) == (
        "skip-link",
        "Skip to content",
        True,
    )
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"
    # The next Tab goes on from the top of the page's own content, past the header's links.
    after = _tab(page)
    assert after["inMain"], after


@pytest.mark.parametrize("screen", ["dashboard", "board", "deal page", "people list"])
def test_every_tab_stop_shows_where_the_focus_is(
    screen: str, demo_company: None, live_server: Any, page: Any
) -> None:
    base = str(live_server.url)
    log_in(page, base)
    page.goto(f"{base}{dict(_screens())[screen]}")
    unmarked = []
    for _stop in range(60):
        focused = _tab(page)
        if focused["tag"] == "body":  # past the last stop
            break
        if not focused["ring"]:
            unmarked.append(focused)
    assert not unmarked, "Tab stops without a visible focus ring:\n" + "\n".join(map(str, unmarked))
