"""The board in a real browser (Debian's Chromium driven by Playwright): drag a card to the next
stage (confirming the client's action), drop one on Lost with a reason, load more cards of a
column, and see a conflicting move refused and put back.

Saves docs/screenshots/board.png for the README. Outside CI the test skips when Chromium is
missing; under CI (`CI` set) it runs and fails if Chromium cannot start.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections

from conveyor.accounts.models import Role, User
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, DealStatus
from conveyor.pipelines.selectors import pipelines_for
from conveyor.pipelines.services import deal_move, deal_open
from conveyor.testing.browser import BROWSER, SCREENSHOTS, log_in
from conveyor.touches.selectors import CARDS_PER_COLUMN

pytestmark = BROWSER


@pytest.fixture
def crowded_first_stage(demo_company: None) -> None:
    """More open deals at the first stage of the board's first pipeline than one page shows."""
    owner = User.objects.get(email="boss@example.com")
    pipeline = pipelines_for(owner).first()
    assert pipeline is not None
    manager = User.objects.filter(role=Role.MANAGER).order_by("pk").first()
    first_names = ["Anna", "Boris", "Daria", "Emil", "Galina", "Kiril", "Lidia", "Mihail"]
    last_names = ["Angelova", "Belov", "Dimova", "Georgiev", "Ilieva", "Kozlov", "Markova"]
    for n in range(CARDS_PER_COLUMN + 5):
        name = f"{first_names[n % 8]} {last_names[n % 7]}"
        person = Person.objects.create(name=name, source="walk-in")
        deal_open(person=person, pipeline=pipeline, owner=manager, by=None, amount=Decimal(900))


def drag(tab: Any, card: Any, target: Any) -> None:
    """Press on the card, move the mouse in steps onto `target`, let go.

    SortableJS runs with `forceFallback` (mouse events, not the browser's drag and drop), so it
    needs real pointer moves past its tolerance; one jump, as `drag_to` makes, is not enough.
    """
    tab.evaluate("window.scrollTo(0, 0)")  # the cards dragged here sit at the top of their column
    start = card.locator(":scope > a").bounding_box()
    end = target.bounding_box()
    assert start and end
    x, y = start["x"] + start["width"] / 2, start["y"] + 12
    tab.mouse.move(x, y)
    tab.mouse.down()
    tab.mouse.move(x + 12, y + 12, steps=4)
    tx, ty = end["x"] + end["width"] / 2, end["y"] + min(end["height"] / 2, 40)
    tab.mouse.move(tx, ty, steps=25)
    tab.mouse.move(tx + 2, ty + 2, steps=3)
    tab.mouse.up()


def card_id(card: Any) -> int:
    return int(card.get_attribute("data-deal"))


def test_drag_cards_between_stages_onto_lost_and_see_a_conflict(
    crowded_first_stage: None, live_server: object, page: object
) -> None:
    try:
        journey(page, str(live_server.url))  # type: ignore[attr-defined]
    finally:
        # The ORM calls made while Playwright's event loop runs get connections of their own;
        # close them, or PostgreSQL refuses to drop the test database afterwards.
        connections.close_all()


def journey(page: object, base: str) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    refused_by_policy: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused_by_policy.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    log_in(page, base)
    expect(page.locator(".board")).to_be_visible()
    outcomes = page.locator("[data-outcomes]")
    expect(outcomes).to_be_visible()  # shown by the script: it runs under the CSP

    columns = page.locator(".board > .column")
    first, second = columns.nth(0), columns.nth(1)
    first_count = first.locator(".totals .count")
    second_count = second.locator(".totals .count")
    before_first, before_second = first_count.inner_text(), second_count.inner_text()

    # 1. To the next stage: the dialog asks for the client's action; cancelling puts it back.
    card = first.locator(".deal-card").first
    deal = card_id(card)
    drag(page, card, second.locator(".cards"))
    dialog = page.locator("#board-move")
    expect(dialog).to_be_visible()
    criterion = first.get_attribute("data-criterion")
    assert criterion
    expect(dialog.locator("[data-slot=criterion]")).to_have_text(criterion)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(first.locator(f"#deal-{deal}")).to_be_visible()
    assert Deal.objects.get(pk=deal).stage_id == int(first.get_attribute("data-stage") or 0)

    drag(page, first.locator(f"#deal-{deal}"), second.locator(".cards"))
    expect(dialog).to_be_visible()
    dialog.get_by_label("Confirmed: the client did it").check()
    dialog.get_by_role("button", name="Move").click()
    expect(dialog).to_be_hidden()
    moved = second.locator(f"#deal-{deal}")
    expect(moved).to_have_attribute("data-version", re.compile(r"^\d+$"))
    expect(moved).to_have_attribute("data-stage", second.get_attribute("data-stage") or "")
    expect(first_count).not_to_have_text(before_first)
    expect(second_count).not_to_have_text(before_second)
    assert Deal.objects.get(pk=deal).stage_id == int(second.get_attribute("data-stage") or 0)

    page.mouse.move(0, 0)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / "board.png"))

    # A warming touch from the moved card: its "Log touch" opens the form the cards share.
    moved.locator("summary").click()
    moved.get_by_label("Note").fill("Sent the agenda for the next call")
    moved.get_by_role("button", name="Log warming touch").click()
    expect(page.locator(".messages")).to_contain_text("Saved.")
    assert Deal.objects.get(pk=deal).touches.filter(note__contains="agenda").exists()

    # 2. Onto Lost: the reason from the catalogue, then the card leaves the board.
    card = first.locator(".deal-card").first
    lost = card_id(card)
    drag(page, card, outcomes.locator("[data-outcome=lose]"))
    lose = page.locator("#board-lose")
    expect(lose).to_be_visible()
    reason = lose.locator("select[name=reason] option:not([disabled]):not([value=''])").first
    lose.get_by_label("Why was it lost?").select_option(reason.get_attribute("value"))
    lose.get_by_role("button", name="Mark lost").click()
    expect(lose).to_be_hidden()
    expect(page.locator(f"#deal-{lost}")).to_have_count(0)
    assert Deal.objects.get(pk=lost).status == DealStatus.LOST

    # 3. Show more: the next page of the column, fetched by htmx.
    in_column = int(first_count.inner_text().split()[0])
    assert first.locator(".deal-card").count() < in_column <= 2 * CARDS_PER_COLUMN
    first.get_by_role("link", name="Show more").click()
    expect(first.locator(".deal-card")).to_have_count(in_column)
    expect(first.get_by_role("link", name="Show more")).to_have_count(0)

    # 4. Someone else moves a deal while this board shows it: the drop is refused, plainly.
    card = first.locator(".deal-card").first
    stale = Deal.objects.get(pk=card_id(card))
    third = columns.nth(2)
    deal_move(
        deal_id=stale.pk,
        stage=stale.pipeline.stages.get(pk=int(third.get_attribute("data-stage") or 0)),
        version=stale.version,
        by=None,
    )
    drag(page, card, second.locator(".cards"))
    expect(dialog).to_be_visible()
    dialog.get_by_label("Confirmed: the client did it").check()
    dialog.get_by_role("button", name="Move").click()
    back = first.locator(f"#deal-{stale.pk}")
    expect(back.locator(".card-error")).to_contain_text("Someone else changed this deal")
    expect(back.get_by_role("link", name="Reload the board")).to_be_visible()
    assert Deal.objects.get(pk=stale.pk).stage.position == 3  # not overwritten
    assert refused_by_policy == []


def tab_to(tab: Any, selector: str, limit: int = 120) -> None:
    """Press Tab until the focused element matches `selector` (the keyboard's way there)."""
    for _ in range(limit):
        tab.keyboard.press("Tab")
        if tab.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def focused_card(tab: Any) -> int:
    return int(tab.evaluate("document.activeElement.closest('.deal-card').dataset.deal"))


def test_move_cards_with_the_keyboard_alone(
    crowded_first_stage: None, live_server: object, page: object
) -> None:
    try:
        keyboard_journey(page, str(live_server.url))  # type: ignore[attr-defined]
    finally:
        connections.close_all()  # see above


def keyboard_journey(page: object, base: str) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    log_in(page, base)
    expect(page.locator("[data-outcomes]")).to_be_visible()  # the script is running
    columns = page.locator(".board > .column")
    first, second = columns.nth(0), columns.nth(1)
    second_stage = second.get_attribute("data-stage") or ""

    # 1. Tab to the first card's "Move", Enter: the dialog offers the next stage first.
    deal = card_id(first.locator(".deal-card").first)
    tab_to(page, f"#deal-{deal} [data-move]")
    page.keyboard.press("Enter")
    picker = page.locator("#board-move-to")
    expect(picker).to_be_visible()
    target = picker.get_by_label("Move to:")
    expect(target).to_be_focused()
    expect(target).to_have_value(second_stage)
    # Down to the third stage and back up: the card's own stage is not offered.
    page.keyboard.press("ArrowDown")
    expect(target).to_have_value(columns.nth(2).get_attribute("data-stage") or "")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(target).to_have_value(second_stage)
    tab_to(page, "#board-move-to [type=submit]")
    page.keyboard.press("Enter")
    # Leaving the stage needs the client's action confirmed, as after a drop.
    confirm = page.locator("#board-move")
    expect(confirm).to_be_visible()
    expect(confirm.get_by_label("Confirmed: the client did it")).to_be_focused()
    page.keyboard.press("Space")
    tab_to(page, "#board-move [type=submit]")
    page.keyboard.press("Enter")
    expect(confirm).to_be_hidden()
    moved = second.locator(f"#deal-{deal}")
    expect(moved).to_have_attribute("data-stage", second_stage)
    assert Deal.objects.get(pk=deal).stage_id == int(second_stage)
    # The focus stays with the card, on its "Move", in its new column.
    expect(moved.locator("[data-move]")).to_be_focused()

    # 2. A card someone else moved meanwhile: refused as a conflict, back in place, focused.
    card = first.locator(".deal-card").first
    stale = Deal.objects.get(pk=card_id(card))
    third = columns.nth(2)
    deal_move(
        deal_id=stale.pk,
        stage=stale.pipeline.stages.get(pk=int(third.get_attribute("data-stage") or 0)),
        version=stale.version,
        by=None,
    )
    tab_to(page, f"#deal-{stale.pk} [data-move]")
    page.keyboard.press("Enter")
    expect(picker).to_be_visible()
    tab_to(page, "#board-move-to [type=submit]")
    page.keyboard.press("Enter")
    expect(confirm).to_be_visible()
    page.keyboard.press("Space")
    tab_to(page, "#board-move [type=submit]")
    page.keyboard.press("Enter")
    back = first.locator(f"#deal-{stale.pk}")
    expect(back.locator(".card-error")).to_contain_text("Someone else changed this deal")
    expect(back.locator("[data-move]")).to_be_focused()
    assert Deal.objects.get(pk=stale.pk).stage.position == 3  # not overwritten

    # 3. Escape closes the dialog and changes nothing; the focus is back on the card.
    page.keyboard.press("Enter")
    expect(picker).to_be_visible()
    page.keyboard.press("Escape")
    expect(picker).to_be_hidden()
    assert focused_card(page) == stale.pk
    expect(first.locator(f"#deal-{stale.pk}")).to_be_visible()
