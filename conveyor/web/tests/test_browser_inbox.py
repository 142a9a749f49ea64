"""The inbox's bulk merge in a real browser: the toolbar buttons, and Enter in its person-id
field (which submits the toolbar's first button, accept) refused instead of accepting."""

from __future__ import annotations

from conveyor.accounts.models import Role
from conveyor.accounts.services import user_create
from conveyor.intake.models import Lead, LeadChannel, LeadStatus
from conveyor.intake.services import lead_receive
from conveyor.pipelines.models import Deal
from conveyor.testing.browser import BROWSER, PASSWORD, log_in
from conveyor.testing.factories import PersonFactory, pipeline_with_stages

pytestmark = BROWSER


def test_bulk_merge_from_the_inbox_toolbar(live_server: object, page: object) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    boss = user_create(email="boss@example.com", password=PASSWORD, role=Role.OWNER, name="Boss")
    known = PersonFactory(owner=boss, name="Known Kalina", phone="+359888100200")
    segment = pipeline_with_stages().segment
    again = lead_receive(
        channel=LeadChannel.WEB_FORM, name="Kalina again", phone="+359888100200", segment=segment
    )
    stranger = lead_receive(
        channel=LeadChannel.WEB_FORM, name="Stan Stranger", phone="+359888999999", segment=segment
    )
    base = str(live_server.url)  # type: ignore[attr-defined]
    log_in(page, base)
    page.goto(f"{base}/inbox/")

    # Enter in the person field: the browser presses "Accept selected"; nothing is accepted.
    page.locator(f"#lead-{again.pk} input[type=checkbox]").check()
    page.locator("#bulk input[name=person]").fill(str(known.pk))
    page.locator("#bulk input[name=person]").press("Enter")
    expect(page.locator(".errorlist")).to_contain_text("Clear the person id")
    assert Deal.objects.count() == 0

    page.goto(f"{base}/inbox/")
    page.locator(f"#lead-{again.pk} input[type=checkbox]").check()
    page.locator(f"#lead-{stranger.pk} input[type=checkbox]").check()
    page.get_by_role("button", name="Merge selected into their known person").click()
    expect(page.locator(".messages")).to_contain_text("1 lead done.")
    expect(page.locator(".messages")).to_contain_text(
        f"Lead #{stranger.pk}: No known person to merge into: merge this lead by hand."
    )
    expect(page.locator("table.inbox")).to_contain_text("Stan Stranger")
    expect(page.locator("table.inbox")).not_to_contain_text("Kalina again")
    statuses = dict(Lead.objects.values_list("pk", "status"))
    assert statuses == {again.pk: LeadStatus.MERGED, stranger.pk: LeadStatus.INBOX}
