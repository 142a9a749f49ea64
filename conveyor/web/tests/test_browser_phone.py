"""On a phone (390 px wide): the agenda and touch logging fit the screen and work.
Saves docs/screenshots/agenda-phone.png."""

from __future__ import annotations

from typing import Any

from conveyor.testing.browser import BROWSER, SCREENSHOTS, log_in

pytestmark = BROWSER

FITS = "document.documentElement.scrollWidth <= window.innerWidth + 1"


def test_agenda_and_touch_logging_fit_a_phone(
    demo_company: None, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    base = str(live_server.url)
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, base)
    page.goto(f"{base}/agenda/")
    expect(page.get_by_role("heading", name="Agenda")).to_be_visible()
    assert page.evaluate(FITS), page.evaluate("document.documentElement.scrollWidth")
    page.screenshot(path=str(SCREENSHOTS / "agenda-phone.png"), full_page=True)

    page.goto(f"{base}/board/")
    page.locator(".deal-card a").first.click()
    touch = page.locator("form#touch")
    touch.get_by_label("Kind").select_option("warming")
    touch.get_by_label("Note").fill("Called from the car park")
    touch.get_by_role("button", name="Log touch").click()
    expect(page.locator(".timeline")).to_contain_text("Called from the car park")
    assert page.evaluate(FITS), page.evaluate("document.documentElement.scrollWidth")
