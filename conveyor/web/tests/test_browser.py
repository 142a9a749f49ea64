"""The main journey in a real browser (Debian's Chromium driven by Playwright).

Saves a screenshot of each main screen to docs/screenshots/ for the README. Outside CI the test
skips when Chromium is missing; under CI (`CI` set) it runs and fails if Chromium cannot start.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command

from conveyor.accounts.models import Role
from conveyor.accounts.services import user_create
from conveyor.intake.models import LeadChannel
from conveyor.intake.services import lead_receive
from conveyor.pipelines.models import Pipeline, Segment

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
PASSWORD = "browser-Test-pass-42"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason="Chromium is not installed (Debian package `chromium`); browser tests skipped",
    ),
]


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the test makes
    # around it are ordinary blocking calls, so Django's async-safety guard does not apply.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
        yield context.new_page()
        context.close()
        browser.close()


@pytest.fixture
def demo_company() -> None:
    """The demo company and an owner login, built before the browser's event loop starts."""
    call_command("demo", deals=3000, seed=7, verbosity=0)
    user_create(email="boss@example.com", password=PASSWORD, role=Role.OWNER, name="Boss")
    segment = Segment.objects.order_by("name").first()
    for name, phone in [("Elena Petrova", "+359888100200"), ("Nikolai Ivanov", "+79161234567")]:
        lead_receive(channel=LeadChannel.WEB_FORM, name=name, phone=phone, segment=segment)


def log_in(page: Any, base: str) -> None:
    """The boss logs in through the login form."""
    page.goto(f"{base}/login/")
    page.get_by_label("E-mail").fill("boss@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_log_in_work_a_deal_and_read_the_funnel(
    demo_company: None, live_server: object, page: object
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = str(live_server.url)  # type: ignore[attr-defined]

    log_in(page, base)
    expect(page.locator(".board")).to_be_visible()
    expect(page.locator(".column").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "board.png"))

    page.locator(".deal-card a").first.click()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    touch = page.locator("form.action").filter(has=page.get_by_role("button", name="Log touch"))
    touch.get_by_label("Kind").select_option("warming")
    touch.get_by_label("Note").fill("Sent the case study they asked about")
    touch.get_by_role("button", name="Log touch").click()
    expect(page.locator(".messages")).to_contain_text("Saved.")
    expect(page.locator(".timeline")).to_contain_text("Sent the case study they asked about")
    page.screenshot(path=str(SCREENSHOTS / "deal.png"), full_page=True)

    page.get_by_role("link", name="Inbox").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "inbox.png"), full_page=True)
    page.get_by_role("button", name="Accept", exact=True).first.click()
    expect(page.locator(".messages")).to_be_visible()

    # A head publishes a web form; a visitor fills it in; the lead lands in the inbox.
    page.get_by_role("link", name="Web forms").click()
    page.get_by_role("textbox", name="Name").fill("Website request")
    page.get_by_role("button", name="Create the form").click()
    public_url = page.locator("a[href*='/f/']").first.get_attribute("href")
    assert public_url
    page.screenshot(path=str(SCREENSHOTS / "web-form-settings.png"), full_page=True)
    page.goto(public_url)
    page.locator("#f-name").fill("Vera Visitor")
    page.locator("#f-phone").fill("+359887654321")
    page.wait_for_timeout(3200)  # a human takes longer than the minimum fill time
    page.get_by_role("button", name="Send").click()
    expect(page.locator("body")).not_to_contain_text("Leave this field empty")
    page.goto(f"{base}/inbox/")
    expect(page.locator("table")).to_contain_text("Vera Visitor")

    page.get_by_role("link", name="Reports").click()
    page.get_by_role("link", name="Funnel", exact=True).click()
    expect(page.locator("table.report tbody tr").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "funnel.png"), full_page=True)


def test_touches_from_the_board_and_an_advanced_closing_touch_moves_the_deal(
    demo_company: None, live_server: object, page: object
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    base = str(live_server.url)  # type: ignore[attr-defined]
    log_in(page, base)

    # Two clicks on a board card: open "Log touch", send the warming touch; back on the board.
    card = page.locator(".deal-card").first
    card.locator("summary").click()
    card.get_by_label("Note").fill("Reminded them of the webinar")
    card.get_by_role("button", name="Log warming touch").click()
    expect(page.locator(".messages")).to_contain_text("Saved.")
    expect(page.locator(".board")).to_be_visible()

    page.locator(".deal-card a").first.click()
    expect(page.locator(".timeline")).to_contain_text("Reminded them of the webinar")
    stage_before = page.locator(".facts dd").nth(1).inner_text()
    touch = page.locator("form#touch")
    touch.get_by_label("Kind").select_option("closing")
    touch.get_by_label("Step asked for").select_option("meeting")
    touch.get_by_label("Outcome").select_option("advanced")
    touch.get_by_role("button", name="Log touch").click()
    # "Advanced" offers the move to the next stage, with the client's action to confirm.
    expect(page.locator(".messages")).to_contain_text("Move the deal on?")
    move = page.locator("form#move")
    expect(move).to_have_class(re.compile("offered"))
    move.get_by_label(re.compile("^Confirmed")).check()
    move.get_by_role("button", name="Move").click()
    expect(page.locator(".messages")).to_contain_text("Saved.")
    assert page.locator(".facts dd").nth(1).inner_text() != stage_before
    page.screenshot(path=str(SCREENSHOTS / "deal-moved.png"), full_page=True)

    page.get_by_role("link", name=re.compile("^Agenda")).click()
    expect(page.get_by_role("heading", name=re.compile("Agenda"))).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "agenda.png"), full_page=True)


def test_head_reads_the_dashboard_and_the_reports(
    demo_company: None, live_server: object, page: object
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = str(live_server.url)  # type: ignore[attr-defined]
    log_in(page, base)

    page.get_by_role("link", name="Dashboard", exact=True).click()
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    expect(page.locator(".tile").first).to_contain_text("Leads")
    expect(page.locator(".funnel-bars").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

    # The same page in Bulgarian, then back.
    page.locator("#language").select_option("bg")
    expect(page.get_by_role("heading", name="Табло", exact=True)).to_be_visible()
    page.locator("#language").select_option("en")
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()

    # A year of the demo company in four more reports.
    first_sale = Pipeline.objects.get(name="Small business / first sale").pk
    window = f"date_from=2026-01-01&date_to=2027-01-01&pipeline_id={first_sale}"
    for name, shot in [
        ("funnel-compare", "report-funnel-compare.png"),
        ("losses", "report-losses.png"),
        ("conveyor", "report-conveyor.png"),
        ("forecast", "report-forecast.png"),
    ]:
        page.goto(f"{base}/reports/{name}/?{window}&against=year")
        expect(page.locator("table.report").first).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / shot), full_page=True)
