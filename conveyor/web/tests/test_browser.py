"""The main journey in a real browser (Debian's Chromium driven by Playwright).

Saves a screenshot of each main screen to docs/screenshots/ for the README. Outside CI the test
skips when Chromium is missing; under CI (`CI` set) it runs and fails if Chromium cannot start.
"""

from __future__ import annotations

import re

from conveyor.pipelines.models import Pipeline
from conveyor.testing.browser import BROWSER, SCREENSHOTS, log_in

pytestmark = BROWSER


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
    page.locator("header.topbar nav").get_by_role("link", name="Settings").click()
    page.locator("main").get_by_role("link", name="Web forms").click()
    page.get_by_role("textbox", name="Name").fill("Website request")
    page.get_by_role("button", name="Create the form").click()
    public_url = page.locator("a[href*='/f/']").first.get_attribute("href")
    assert public_url
    page.screenshot(path=str(SCREENSHOTS / "web-form-settings.png"), full_page=True)
    page.goto(public_url)
    # The form's stylesheet is allowed by its Content-Security-Policy: the spam trap is hidden.
    assert page.locator(".trap").evaluate("e => getComputedStyle(e).position") == "absolute"
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
    stage_before = page.locator('.facts dt:text-is("Stage") + dd').inner_text()
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
    assert page.locator('.facts dt:text-is("Stage") + dd').inner_text() != stage_before
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
