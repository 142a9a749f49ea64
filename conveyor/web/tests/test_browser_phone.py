"""On a phone (390 px wide): the agenda (with tasks in it) and touch logging fit the screen and
work. Saves docs/screenshots/agenda-phone.png."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from conveyor.accounts.models import User
from conveyor.pipelines.models import Deal, DealStatus
from conveyor.testing.browser import BROWSER, SCREENSHOTS, log_in
from conveyor.touches.services import task_schedule

pytestmark = BROWSER

FITS = "document.documentElement.scrollWidth <= window.innerWidth + 1"


def test_agenda_and_touch_logging_fit_a_phone(
    demo_company: None, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    # The owner's agenda with rows in it: one task overdue and one due today, each about a
    # deal of a client with a long name (the widest a row gets).
    owner = User.objects.get(email="boss@example.com")
    deals = Deal.objects.filter(status=DealStatus.OPEN).select_related("person")[:2]
    now = timezone.now()
    for deal, due in zip(
        deals, (now - dt.timedelta(days=2), now + dt.timedelta(minutes=30)), strict=True
    ):
        task_schedule(
            by=None,
            assignee=owner,
            title="Send the revised offer with the delivery schedule",
            due_at=due,
            deal=deal,
        )
    base = str(live_server.url)
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, base)
    page.goto(f"{base}/agenda/")
    expect(page.get_by_role("heading", name="Agenda")).to_be_visible()
    expect(
        page.get_by_text("Send the revised offer with the delivery schedule").first
    ).to_be_visible()
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
