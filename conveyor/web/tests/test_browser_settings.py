"""A head configures the sales process in the app, in a real browser (Debian's Chromium):
adds a stage with its exit criterion, moves it up, and reads the screens in Russian.
Saves docs/screenshots/settings-pipeline.png for the README."""

from __future__ import annotations

from typing import Any

from conveyor.pipelines.models import Pipeline, Stage
from conveyor.testing.browser import BROWSER, SCREENSHOTS, log_in

pytestmark = BROWSER


def test_head_adds_and_reorders_a_stage_then_reads_settings_in_russian(
    demo_company: None, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    base = str(live_server.url)
    pipeline = Pipeline.objects.filter(is_active=True).order_by("pk").first()
    assert pipeline is not None
    stages_before = Stage.objects.filter(pipeline=pipeline).count()

    log_in(page, base)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.locator("main").get_by_role("link", name="Pipelines and stages").click()
    page.get_by_role("link", name=pipeline.name, exact=True).first.click()
    page.get_by_role("link", name="New stage").click()
    page.get_by_label("Name").fill("Signed the NDA")
    page.get_by_label("Exit criterion").fill("The signed NDA is in our inbox")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_be_visible()

    stage = Stage.objects.get(pipeline=pipeline, name="Signed the NDA")
    assert stage.exit_criterion == "The signed NDA is in our inbox"
    assert Stage.objects.filter(pipeline=pipeline).count() == stages_before + 1

    # The new stage is last; one click moves it up a place.
    page.goto(f"{base}/settings/pipelines/{pipeline.pk}/")
    page.get_by_role("button", name="Move Signed the NDA up").click()
    expect(page.locator(".messages")).to_be_visible()
    order = list(
        Stage.objects.filter(pipeline=pipeline, is_archived=False)
        .order_by("position")
        .values_list("name", flat=True)
    )
    assert order[-2] == "Signed the NDA"
    page.screenshot(path=str(SCREENSHOTS / "settings-pipeline.png"), full_page=True)

    # The same screens in Russian.
    page.locator("#language").select_option("ru")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("header.topbar nav")).to_contain_text("Настройки")
