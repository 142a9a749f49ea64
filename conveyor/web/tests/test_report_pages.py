"""The report pages: every registered report renders with its filter and tables, exports CSV,
and offers only the teams and managers the reader may see."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.reports import REPORTS, report_csv
from conveyor.core.csvsafe import to_csv
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.services import deal_move, deal_open, deal_win
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def deals(cast: Cast, pipeline: Pipeline) -> None:
    now = timezone.now() - dt.timedelta(days=3)
    for owner in (cast.manager, cast.manager, cast.outsider):
        deal = deal_open(
            person=PersonFactory(owner=owner, source="website"),
            pipeline=pipeline,
            owner=owner,
            by=None,
            at=now,
        )
        deal = deal_move(
            deal_id=deal.pk,
            stage=pipeline.stages.get(position=2),
            version=deal.version,
            by=None,
            at=now + dt.timedelta(hours=5),
        )
    deal_win(deal_id=deal.pk, version=deal.version, by=None, at=now + dt.timedelta(hours=9))


def _url(name: str) -> str:
    return reverse("web:funnel") if name == "funnel" else reverse("web:report", args=[name])


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_every_report_page_renders_its_tables(
    name: str, cast: Cast, pipeline: Pipeline, deals: None
) -> None:
    response = _client(cast.owner).get(_url(name))
    assert response.status_code == 200
    assert b"<table" in response.content or b"Nothing in this window" in response.content


def test_the_index_links_every_report(cast: Cast) -> None:
    response = _client(cast.manager).get(reverse("web:reports"))
    assert response.status_code == 200
    for name in REPORTS:
        assert _url(name).encode() in response.content


def test_an_unknown_report_is_404_and_anonymous_readers_log_in_first(cast: Cast) -> None:
    assert _client(cast.owner).get(reverse("web:report", args=["nonsense"])).status_code == 404
    response = Client().get(reverse("web:report", args=["funnel"]))
    assert response.status_code == 302 and response["Location"].startswith(
        reverse(settings.LOGIN_URL)
    )


def test_csv_download_is_the_main_table_of_the_same_report(
    cast: Cast, pipeline: Pipeline, deals: None
) -> None:
    today = timezone.localdate()
    window = {"date_from": today - dt.timedelta(days=30), "date_to": today + dt.timedelta(days=1)}
    response = _client(cast.manager).get(
        reverse("web:report", args=["funnel"]),
        {
            "date_from": window["date_from"].isoformat(),
            "date_to": window["date_to"].isoformat(),
            "pipeline_id": pipeline.pk,
            "format": "csv",
        },
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="funnel.csv"' in response["Content-Disposition"]
    report = REPORTS["funnel"]
    expected = report.execute(ReportFilter(viewer=cast.manager, pipeline=pipeline, **window))
    assert response.content.decode() == to_csv(*report_csv(report, expected))
    # The manager's own two deals only: the outsider's won deal is not counted.
    assert expected["cohort"] == 2 and expected["won"] == 0


def test_a_manager_can_pick_only_themselves_and_their_team(cast: Cast) -> None:
    page = _client(cast.manager).get(reverse("web:report", args=["funnel"]))
    form = page.context["form"]
    assert list(form.fields["manager_id"].queryset) == [cast.manager]
    assert [team.name for team in form.fields["team_id"].queryset] == ["Team A"]
    # Asking for someone else's numbers is refused as an invalid choice, nothing computed.
    refused = _client(cast.manager).get(
        reverse("web:report", args=["funnel"]), {"manager_id": cast.outsider.pk}
    )
    assert refused.status_code == 200
    assert refused.context["data"] is None
    assert "manager_id" in refused.context["form"].errors


def test_a_head_can_pick_their_team_members(cast: Cast) -> None:
    form = _client(cast.head).get(reverse("web:report", args=["funnel"])).context["form"]
    assert set(form.fields["manager_id"].queryset) == {cast.head, cast.manager}


def test_a_reversed_window_is_shown_as_a_form_error(cast: Cast, pipeline: Pipeline) -> None:
    response = _client(cast.owner).get(
        reverse("web:report", args=["funnel"]),
        {"date_from": "2026-05-01", "date_to": "2026-04-01", "pipeline_id": pipeline.pk},
    )
    assert response.status_code == 200
    assert response.context["data"] is None
    assert response.context["form"].errors["date_to"]


def test_the_manager_filter_narrows_the_owners_report(
    cast: Cast, pipeline: Pipeline, deals: None
) -> None:
    response = _client(cast.owner).get(
        reverse("web:report", args=["funnel"]),
        {"pipeline_id": pipeline.pk, "manager_id": cast.outsider.pk},
    )
    assert response.context["data"]["cohort"] == 1
    assert response.context["data"]["won"] == 1
