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


def test_xlsx_download_has_every_table_and_keeps_formula_text_as_text(
    cast: Cast, pipeline: Pipeline, deals: None
) -> None:
    import io

    from openpyxl import load_workbook

    Pipeline.objects.filter(pk=pipeline.pk).update(name='=HYPERLINK("http://evil.example")')
    response = _client(cast.owner).get(
        reverse("web:funnel"), {"pipeline_id": pipeline.pk, "format": "xlsx"}
    )
    assert response.status_code == 200
    assert 'filename="funnel.xlsx"' in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Funnel", "Cohort"]
    header = [cell.value for cell in book["Funnel"][1]]
    assert header[:3] == ["#", "Stage", "Reached"]
    cohort = book["Cohort"]
    assert cohort["A2"].value == '=HYPERLINK("http://evil.example")'
    assert cohort["A2"].data_type == "s"
    assert cohort["B2"].value == 3  # the owner's cohort: all three deals


def test_the_command_writes_a_workbook_only_to_a_file(
    cast: Cast, pipeline: Pipeline, deals: None, tmp_path: object
) -> None:
    import io
    from pathlib import Path

    from django.core.management import call_command
    from django.core.management.base import CommandError
    from openpyxl import load_workbook

    today = timezone.localdate()
    args = ["report", "funnel", "--pipeline", pipeline.name, "--from",
            (today - dt.timedelta(days=30)).isoformat(), "--to",
            (today + dt.timedelta(days=1)).isoformat(), "--format", "xlsx"]  # fmt: skip
    with pytest.raises(CommandError, match="--output"):
        call_command(*args, stdout=io.StringIO())
    target = Path(str(tmp_path)) / "funnel.xlsx"
    call_command(*args, "--output", str(target))
    assert load_workbook(target).sheetnames == ["Funnel", "Cohort"]
