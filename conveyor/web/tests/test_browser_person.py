"""Edit in place in a real browser (Debian's Chromium driven by Playwright): a deal's amount and
title change without leaving the page, the next move is not refused as stale, a duplicate phone
is refused on the field on the person page, whose screenshot goes to docs/screenshots/person.png.

Outside CI the test skips when Chromium is missing; under CI (`CI` set) it must run.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from conveyor.accounts.models import Role, User
from conveyor.accounts.services import user_create
from conveyor.people.models import Person, Temperature
from conveyor.people.services import person_create, person_link_referral
from conveyor.pipelines.models import Deal, LossReason
from conveyor.pipelines.services import deal_lose, deal_move, deal_open, deal_win
from conveyor.testing.browser import BROWSER, PASSWORD, SCREENSHOTS, log_in
from conveyor.testing.factories import pipeline_with_stages
from conveyor.touches.services import task_schedule, touch_log

pytestmark = BROWSER


def _customer(name: str, phone: str, owner: User, **extra: object) -> Person:
    return person_create(name=name, phone=phone, by=None, owner=owner, **extra)  # type: ignore[arg-type]


@pytest.fixture
def elena() -> Deal:
    """A repeat customer with a referrer, a referral, a lost deal and an open deal being
    worked; returns the open deal. Built before the browser's event loop starts."""
    user_create(email="boss@example.com", password=PASSWORD, role=Role.OWNER, name="Boss")
    vera = user_create(
        email="vera@example.com", password=None, role=Role.MANAGER, name="Vera Manager"
    )
    pipeline = pipeline_with_stages(
        ["Left a request", "Told us the task", "Received the proposal", "Agreed terms"],
        name="Studios / first sale",
    )
    stages = list(pipeline.stages.order_by("position"))
    ivan = _customer("Ivan Georgiev", "+359888100300", vera)
    elena = _customer(
        "Elena Petrova",
        "+359888100200",
        vera,
        email="elena@petrova.example",
        company_name="Petrova Design Studio",
        source="trade fair",
        temperature=Temperature.WARM,
    )
    person_link_referral(person_id=elena.pk, referred_by_id=ivan.pk, by=None)
    friend = _customer("Maria Dimitrova", "+359888100400", vera)
    person_link_referral(person_id=friend.pk, referred_by_id=elena.pk, by=None)
    now = timezone.now()

    def days_ago(n: float) -> dt.datetime:
        return now - dt.timedelta(days=n)

    for title, amount, opened, won in [
        ("Logo package", "1200", 120, 100),
        ("Brand book", "2400", 70, 55),
    ]:
        deal = deal_open(
            person=elena, pipeline=pipeline, owner=vera, by=None, title=title,
            amount=Decimal(amount), at=days_ago(opened),
        )  # fmt: skip
        touch_log(by=vera, deal=deal, kind="warming", note="Sent examples", at=days_ago(won + 5))
        deal_win(deal_id=deal.pk, version=1, by=vera, at=days_ago(won))
    lost = deal_open(
        person=elena, pipeline=pipeline, owner=vera, by=None, title="Print run",
        amount=Decimal(600), at=days_ago(40),
    )  # fmt: skip
    deal_lose(
        deal_id=lost.pk, version=1, by=vera, at=days_ago(35),
        reason=LossReason.objects.create(name="Chose a print shop"),
    )  # fmt: skip
    deal = deal_open(
        person=elena, pipeline=pipeline, owner=vera, by=None, title="Website",
        amount=Decimal(3000), at=days_ago(20),
    )  # fmt: skip
    for n, note in enumerate(["Asked what the shop must do", "Sent two case studies"]):
        touch_log(by=vera, deal=deal, kind="warming", note=note, at=days_ago(18 - 4 * n))
    deal_move(deal_id=deal.pk, stage=stages[1], version=1, by=vera, at=days_ago(9))
    touch_log(
        by=vera, deal=deal, kind="closing", step="meeting", outcome="advanced",
        note="Agreed a call with their developer", at=days_ago(8),
    )  # fmt: skip
    task_schedule(
        by=vera, assignee=vera, deal=deal, title="Send the proposal",
        due_at=now + dt.timedelta(days=1),
    )  # fmt: skip
    return deal


def test_edit_a_deal_in_place_then_the_person_page(
    elena: Deal, live_server: object, page: object
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = str(live_server.url)  # type: ignore[attr-defined]
    log_in(page, base)

    deal_url = f"{base}/deals/{elena.pk}/"
    page.goto(deal_url)
    amount = page.locator("#inplace-amount")
    amount.get_by_role("link", name="Edit Amount").click()
    field = amount.get_by_role("spinbutton")
    expect(field).to_be_focused()
    field.fill("4800")
    amount.get_by_role("button", name="Save").click()
    # The number alone: the currency code is its own field beside it.
    expect(page.locator("#inplace-amount .inplace-value")).to_have_text("4,800")
    assert page.url == deal_url  # saved in place, no page load
    elena.refresh_from_db()
    assert (elena.amount, elena.version) == (Decimal("4800.00"), 3)

    title = page.locator("#inplace-title")
    title.get_by_role("link", name="Edit Title").click()
    title.get_by_role("textbox").fill("Website with a shop")
    title.get_by_role("textbox").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Elena Petrova — Website with a shop")

    # The edits raised the deal's version; the page's other forms follow, so moving on works.
    move = page.locator("form#move")
    move.get_by_label("Move to stage").select_option(label="3. Received the proposal")
    move.get_by_label(re.compile("^Confirmed")).check()
    move.get_by_role("button", name="Move").click()
    expect(page.locator(".messages")).to_contain_text("Saved.")
    elena.refresh_from_db()
    assert elena.stage.position == 3

    page.get_by_role("link", name="Elena Petrova").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Elena Petrova")
    expect(page.locator(".timeline")).to_contain_text("Agreed a call with their developer")
    expect(page.locator(".timeline")).to_contain_text("Brand book")

    # Someone else's number: refused on the field, nothing saved, the form stays open.
    phone = page.locator("#inplace-phone")
    phone.get_by_role("link", name="Edit Phone").click()
    phone.get_by_role("textbox").fill("+359 888 100 300")
    phone.get_by_role("button", name="Save").click()
    ivan = Person.objects.get(name="Ivan Georgiev")
    expect(page.locator("#inplace-phone .errorlist")).to_contain_text(
        f"Ivan Georgiev (#{ivan.pk}) already has this phone number"
    )
    assert Person.objects.get(name="Elena Petrova").phone == "+359888100200"
    page.locator("#inplace-phone").get_by_role("textbox").press("Escape")
    expect(page.locator("#inplace-phone .inplace-value")).to_have_text("+359888100200")

    page.evaluate("document.activeElement.blur()")
    page.screenshot(path=str(SCREENSHOTS / "person.png"), full_page=True)
