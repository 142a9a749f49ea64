"""Fixtures of the web tests' browser journeys (see conveyor/testing/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.management import call_command

from conveyor.accounts.models import Role
from conveyor.accounts.services import user_create
from conveyor.intake.models import LeadChannel
from conveyor.intake.services import lead_receive
from conveyor.pipelines.models import Segment
from conveyor.testing.browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A fresh page of Debian's Chromium, 1440 by 900, English."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the test makes
    # around it are ordinary blocking calls, so Django's async-safety guard does not apply.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
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
