"""The agenda page (/agenda/), its one-click actions, the header count, and the iCalendar feed
(/calendar/<key>.ics)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time
from icalendar import Calendar
from pytest_django import Settings

from conftest import Cast
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.tests.support import open_deal
from conveyor.testing.factories import PersonFactory
from conveyor.touches.models import Task, Touch, TouchKind
from conveyor.touches.services import calendar_key_reset, task_complete, task_schedule

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def _client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


@pytest.fixture
def person(cast: Cast) -> Person:
    return PersonFactory(owner=cast.manager, name="Ivan Petrov")


@pytest.fixture
def deal(cast: Cast, pipeline: Pipeline, person: Person) -> Deal:
    return open_deal(person, pipeline, owner=cast.manager)


def _now() -> dt.datetime:
    """Now to the minute (calendar times carry no microseconds)."""
    return timezone.now().replace(second=0, microsecond=0)


def plan(
    cast: Cast,
    deal: Deal,
    due_at: dt.datetime,
    title: str = "Call about the offer",
    kind: str = TouchKind.WARMING,
) -> Task:
    return task_schedule(
        by=cast.manager, assignee=cast.manager, title=title, due_at=due_at, deal=deal, kind=kind
    )


def _action(task: Task, action: str) -> str:
    return reverse("web:agenda-action", args=[task.pk, action])


# --- the page -------------------------------------------------------------------------------------


def test_the_agenda_needs_login(client: Client) -> None:
    response = client.get(reverse("web:agenda"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))


def test_the_agenda_shows_overdue_today_and_upcoming_tasks_of_the_user(
    cast: Cast, deal: Deal
) -> None:
    now = _now()
    plan(cast, deal, now - dt.timedelta(days=2), title="Overdue call")
    plan(cast, deal, now + dt.timedelta(days=3), title="Upcoming call")
    task_schedule(by=cast.head, assignee=cast.head, title="Head's own", due_at=now, deal=deal)

    response = _client_for(cast.manager).get(reverse("web:agenda"))

    assert response.status_code == 200
    groups = {key: [row.task.title for row in rows] for key, _, rows in response.context["groups"]}
    assert groups == {"overdue": ["Overdue call"], "today": [], "upcoming": ["Upcoming call"]}
    html = response.content.decode()
    assert f'href="{reverse("web:deal", args=[deal.pk])}">Ivan Petrov' in html
    assert "Head&#x27;s own" not in html and "Head's own" not in html
    assert 'for="done-' not in html  # warming tasks: one-click "Done", no fields


def test_the_header_shows_how_many_tasks_are_overdue_or_due_today(cast: Cast, deal: Deal) -> None:
    now = _now()
    plan(cast, deal, now - dt.timedelta(days=2))
    plan(cast, deal, now - dt.timedelta(days=1))
    plan(cast, deal, now + dt.timedelta(days=3))  # upcoming: not counted

    html = _client_for(cast.manager).get(reverse("web:board")).content.decode()

    assert f'<a href="{reverse("web:agenda")}">Agenda <span class="count">2</span></a>' in html
    other = _client_for(cast.head).get(reverse("web:board")).content.decode()
    assert f'<a href="{reverse("web:agenda")}">Agenda</a>' in other


def test_the_agenda_query_count_is_the_same_for_3_and_30_tasks(
    cast: Cast, pipeline: Pipeline
) -> None:
    client = _client_for(cast.manager)
    now = _now()

    def add(n: int) -> None:
        for i in range(n):
            deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
            plan(
                cast, deal, now + dt.timedelta(hours=6 * i - 30), kind=("warming", "closing")[i % 2]
            )

    add(3)
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("web:agenda")).status_code == 200
    add(27)
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("web:agenda"))
    assert sum(len(rows) for _, _, rows in response.context["groups"]) == 30
    assert len(many) == len(few)


def test_done_logs_the_touch_and_asks_for_the_next_task_of_a_deal_left_without_one(
    cast: Cast, deal: Deal
) -> None:
    client = _client_for(cast.manager)
    task = plan(cast, deal, _now() - dt.timedelta(hours=1))

    response = client.post(_action(task, "done"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('web:agenda')}?next_for={task.pk}#plan"
    task.refresh_from_db()
    assert task.done_at is not None
    touch = Touch.objects.get()
    assert (touch.deal, touch.kind, touch.user, task.done_touch) == (
        deal,
        TouchKind.WARMING,
        cast.manager,
        touch,
    )
    page = client.get(response["Location"])
    html = page.content.decode()
    assert "Ivan Petrov has no next task now: plan one" in html
    assert page.context["plan_task"] == task
    assert 'id="plan"' in html
    assert '<label for="plan-title">' in html

    due = (timezone.localtime() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    planned = client.post(_action(task, "plan"), {"title": "Send the offer", "due_at": due})

    assert planned.status_code == 302
    new = Task.objects.get(done_at__isnull=True)
    assert (new.deal, new.assignee, new.title) == (deal, cast.manager, "Send the offer")


def test_done_does_not_ask_for_a_next_task_when_the_deal_still_has_one(
    cast: Cast, deal: Deal
) -> None:
    client = _client_for(cast.manager)
    task = plan(cast, deal, _now() - dt.timedelta(hours=1))
    plan(cast, deal, _now() + dt.timedelta(days=1), title="Already planned")

    response = client.post(_action(task, "done"))

    assert response["Location"] == reverse("web:agenda")
    html = client.get(response["Location"]).content.decode()
    assert "has no next task" not in html
    assert 'id="plan"' not in html


def test_planning_the_next_task_needs_a_title_and_shows_the_form_again(
    cast: Cast, deal: Deal
) -> None:
    client = _client_for(cast.manager)
    task = plan(cast, deal, _now() - dt.timedelta(hours=1))
    client.post(_action(task, "done"))

    response = client.post(_action(task, "plan"), {"title": "", "due_at": "2030-01-01T10:00"})

    assert response.status_code == 400
    assert response.context["plan_form"].errors["title"]
    assert not Task.objects.filter(done_at__isnull=True).exists()


def test_a_closing_task_asks_the_step_and_outcome_and_logs_them(cast: Cast, deal: Deal) -> None:
    client = _client_for(cast.manager)
    task = plan(cast, deal, _now() - dt.timedelta(hours=1), kind=TouchKind.CLOSING)
    html = client.get(reverse("web:agenda")).content.decode()
    assert f'<label for="done-{task.pk}-step">' in html
    assert f'<label for="done-{task.pk}-outcome">' in html

    response = client.post(_action(task, "done"), {"step": "demo", "outcome": "advanced"})

    assert response.status_code == 302
    touch = Touch.objects.get()
    assert (touch.kind, touch.step, touch.outcome) == ("closing", "demo", "advanced")


def test_a_closing_task_without_outcome_shows_the_error_and_changes_nothing(
    cast: Cast, deal: Deal
) -> None:
    client = _client_for(cast.manager)
    task = plan(cast, deal, _now() - dt.timedelta(hours=1), kind=TouchKind.CLOSING)

    response = client.post(_action(task, "done"), {"step": "demo"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Say what came of the closing touch." in html
    assert "<details open>" in html  # the form stays open with the step chosen
    assert '<option value="demo" selected>' in html
    task.refresh_from_db()
    assert task.is_open
    assert not Touch.objects.exists()


def test_done_on_a_task_done_meanwhile_says_so_above_the_agenda(cast: Cast, deal: Deal) -> None:
    task = plan(cast, deal, _now() - dt.timedelta(hours=1))
    task_complete(task_id=task.pk, by=cast.manager)

    response = _client_for(cast.manager).post(_action(task, "done"))

    assert response.status_code == 400
    assert response.context["page_alerts"] == ["This task is already done."]
    assert Touch.objects.count() == 1


@pytest.mark.parametrize(
    ("preset", "due", "expected"),
    [
        # Frozen at 12:15:30 in Sofia (10:15:30 UTC) on Wednesday 5 March 2025.
        ("hour", "2025-03-04T08:00Z", "2025-03-05T11:15Z"),  # overdue: an hour from now
        ("hour", "2025-03-05T15:00Z", "2025-03-05T16:00Z"),  # later today: an hour later
        ("tomorrow", "2025-03-04T08:00Z", "2025-03-06T08:00Z"),  # 10:00 in Sofia, kept
        ("week", "2025-03-04T08:00Z", "2025-03-12T08:00Z"),
    ],
)
def test_reschedule_presets(
    cast: Cast, deal: Deal, settings: Settings, preset: str, due: str, expected: str
) -> None:
    settings.TIME_ZONE = "Europe/Sofia"
    task = plan(cast, deal, dt.datetime.fromisoformat(due))

    with freeze_time("2025-03-05T10:15:30Z"):
        response = _client_for(cast.manager).post(_action(task, "reschedule"), {"preset": preset})

    assert response.status_code == 302
    task.refresh_from_db()
    assert task.due_at == dt.datetime.fromisoformat(expected)
    assert task.is_open


def test_next_week_keeps_the_local_time_across_the_summer_time_change(
    cast: Cast, deal: Deal, settings: Settings
) -> None:
    settings.TIME_ZONE = "Europe/Sofia"
    task = plan(cast, deal, dt.datetime(2025, 3, 27, 8, 0, tzinfo=UTC))  # 10:00 in Sofia (UTC+2)

    with freeze_time("2025-03-27T07:00:00Z"):
        _client_for(cast.manager).post(_action(task, "reschedule"), {"preset": "week"})

    task.refresh_from_db()
    assert task.due_at == dt.datetime(2025, 4, 3, 7, 0, tzinfo=UTC)  # 10:00 in Sofia (UTC+3)


def test_an_unknown_preset_is_refused_and_nothing_moves(cast: Cast, deal: Deal) -> None:
    due = _now() - dt.timedelta(hours=1)
    task = plan(cast, deal, due)

    response = _client_for(cast.manager).post(_action(task, "reschedule"), {"preset": "never"})

    assert response.status_code == 400
    task.refresh_from_db()
    assert task.due_at == due


@pytest.mark.parametrize(
    ("action", "data"),
    [("done", {}), ("reschedule", {"preset": "week"}), ("plan", {"title": "x", "due_at": "2030"})],
)
def test_the_outsider_cannot_act_on_the_managers_task(
    cast: Cast, deal: Deal, action: str, data: dict[str, str]
) -> None:
    due = _now() - dt.timedelta(hours=1)
    task = plan(cast, deal, due)

    response = _client_for(cast.outsider).post(_action(task, action), data)

    assert response.status_code == 404
    task.refresh_from_db()
    assert (task.due_at, task.done_at) == (due, None)
    assert Task.objects.count() == 1
    assert not Touch.objects.exists()


def test_actions_take_only_post_and_an_unknown_action_is_404(cast: Cast, deal: Deal) -> None:
    task = plan(cast, deal, _now() - dt.timedelta(hours=1))
    client = _client_for(cast.manager)

    assert client.get(_action(task, "done")).status_code == 405
    assert client.post(_action(task, "delete")).status_code == 404
    task.refresh_from_db()
    assert task.is_open


def test_actions_need_the_csrf_token(cast: Cast, deal: Deal) -> None:
    task = plan(cast, deal, _now() - dt.timedelta(hours=1))
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.manager)

    assert client.post(_action(task, "done")).status_code == 403
    task.refresh_from_db()
    assert task.is_open


# --- the calendar address on the page -----------------------------------------------------------


def test_the_page_offers_to_create_a_calendar_address_then_shows_it(cast: Cast) -> None:
    client = _client_for(cast.manager)
    first = client.get(reverse("web:agenda"))
    assert "Create calendar address" in first.content.decode()
    assert first["Cache-Control"] == "no-store"

    response = client.post(reverse("web:agenda-calendar-key"))

    assert response.status_code == 302
    cast.manager.refresh_from_db()
    key = cast.manager.calendar_key
    assert key
    page = client.get(reverse("web:agenda"))
    html = page.content.decode()
    assert f'value="http://testserver/calendar/{key}.ics"' in html
    assert "Reset address" in html
    assert page["Cache-Control"] == "no-store"  # the page shows the secret address


def test_creating_a_calendar_address_needs_login_and_post(client: Client, cast: Cast) -> None:
    assert client.post(reverse("web:agenda-calendar-key")).status_code == 302
    assert _client_for(cast.manager).get(reverse("web:agenda-calendar-key")).status_code == 405
    cast.manager.refresh_from_db()
    assert cast.manager.calendar_key is None


# --- the iCalendar feed -------------------------------------------------------------------------


def _feed(client: Client, key: str) -> Calendar:
    response = client.get(f"/calendar/{key}.ics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Cache-Control"] == "private, max-age=300"
    return Calendar.from_ical(response.content)


def test_the_feed_has_exactly_the_open_tasks_in_the_window(
    client: Client, cast: Cast, deal: Deal, person: Person
) -> None:
    now = _now()
    inside = [
        plan(cast, deal, now - dt.timedelta(days=29), title="Last month"),
        plan(cast, deal, now + dt.timedelta(hours=2), title="Soon, with a comma; and more"),
        plan(cast, deal, now + dt.timedelta(days=89), title="Next quarter"),
    ]
    about_person = task_schedule(
        by=cast.manager, assignee=cast.manager, title="Say hello", due_at=now, person=person
    )
    plan(cast, deal, now - dt.timedelta(days=31), title="Too old")
    plan(cast, deal, now + dt.timedelta(days=91), title="Too far")
    task_complete(task_id=plan(cast, deal, now, title="Done").pk, by=cast.manager)
    Task.objects.filter(pk=plan(cast, deal, now, title="Cancelled").pk).update(cancelled_at=now)
    task_schedule(by=cast.head, assignee=cast.head, title="Head's", due_at=now, deal=deal)
    key = calendar_key_reset(user=cast.manager)

    calendar = _feed(client, key)

    events = {str(event["UID"]): event for event in calendar.walk("VEVENT")}
    expected = sorted([*inside, about_person], key=lambda task: task.due_at)
    assert list(events) == [f"task-{task.pk}@conveyor" for task in expected]
    for task in expected:
        event = events[f"task-{task.pk}@conveyor"]
        assert event.start == task.due_at
        assert event.start.utcoffset() == dt.timedelta(0)
        assert event.duration == dt.timedelta(minutes=15)
        assert str(event["SUMMARY"]) == task.title
    deal_event = events[f"task-{inside[1].pk}@conveyor"]
    assert "Ivan Petrov" in str(deal_event["DESCRIPTION"])
    assert f"http://testserver/deals/{deal.pk}/" in str(deal_event["DESCRIPTION"])
    person_event = events[f"task-{about_person.pk}@conveyor"]
    assert f"http://testserver/people/{person.pk}/" in str(person_event["DESCRIPTION"])
    assert str(calendar["X-WR-CALNAME"]) == "Conveyor: tasks of Maria Manager"


def test_an_unknown_key_gets_404(client: Client, cast: Cast) -> None:
    calendar_key_reset(user=cast.manager)

    assert client.get("/calendar/not-a-key.ics").status_code == 404
    assert client.get("/calendar/.ics").status_code == 404


def test_a_reset_key_kills_the_old_address_and_the_new_one_works(
    client: Client, cast: Cast, deal: Deal
) -> None:
    plan(cast, deal, _now())
    old = calendar_key_reset(user=cast.manager)
    assert len(_feed(client, old).walk("VEVENT")) == 1

    response = _client_for(cast.manager).post(reverse("web:agenda-calendar-key"))
    assert response.status_code == 302

    cast.manager.refresh_from_db()
    new = cast.manager.calendar_key
    assert new and new != old
    assert client.get(f"/calendar/{old}.ics").status_code == 404
    assert len(_feed(client, new).walk("VEVENT")) == 1


def test_the_feed_is_not_served_to_a_deactivated_user(
    client: Client, cast: Cast, deal: Deal
) -> None:
    plan(cast, deal, _now())
    key = calendar_key_reset(user=cast.manager)
    cast.manager.is_active = False
    cast.manager.save()

    response = client.get(f"/calendar/{key}.ics")

    assert response.status_code == 404
    assert b"BEGIN:VCALENDAR" not in response.content


@pytest.mark.parametrize(("outcome", "offer"), [("advanced", "move"), ("refused", "lose")])
def test_a_closing_task_done_with_the_clients_answer_offers_the_move_or_the_loss(
    cast: Cast, deal: Deal, outcome: str, offer: str
) -> None:
    client = _client_for(cast.manager)
    task = plan(cast, deal, _now() - dt.timedelta(hours=1), kind=TouchKind.CLOSING)

    response = client.post(_action(task, "done"), {"step": "meeting", "outcome": outcome})

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('web:deal', args=[deal.pk])}?offer={offer}#{offer}"


def test_a_closing_task_not_advanced_stays_in_the_agenda(cast: Cast, deal: Deal) -> None:
    client = _client_for(cast.manager)
    task = plan(cast, deal, _now() - dt.timedelta(hours=1), kind=TouchKind.CLOSING)
    plan(cast, deal, _now() + dt.timedelta(days=1))  # the next step is planned already

    response = client.post(_action(task, "done"), {"step": "meeting", "outcome": "not_advanced"})

    assert response["Location"] == reverse("web:agenda")
