"""The funnel seen by a user counts only the deals the access rule lets them see."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.analytics.queries import funnel
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.services import deal_move, deal_open
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _deal_moved_after(pipeline: Pipeline, owner: User, hours: int) -> None:
    deal = deal_open(person=PersonFactory(), pipeline=pipeline, owner=owner, by=None, at=T0)
    deal_move(
        deal_id=deal.pk,
        stage=pipeline.stages.get(position=2),
        version=1,
        by=None,
        at=T0 + dt.timedelta(hours=hours),
    )


def _report(pipeline: Pipeline, user: User | None) -> dict[str, object]:
    return funnel(
        pipeline=pipeline, date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 4, 1), user=user
    )


def test_each_role_sees_the_funnel_of_the_deals_it_may_see(cast: Cast, pipeline: Pipeline) -> None:
    _deal_moved_after(pipeline, cast.manager, hours=10)
    _deal_moved_after(pipeline, cast.outsider, hours=30)

    everyone = _report(pipeline, None)
    owner = _report(pipeline, cast.owner)
    head = _report(pipeline, cast.head)
    manager = _report(pipeline, cast.manager)
    outsider = _report(pipeline, cast.outsider)

    assert everyone["cohort"] == owner["cohort"] == 2
    assert head["cohort"] == manager["cohort"] == outsider["cohort"] == 1
    first = {
        name: r["stages"][0]
        for name, r in {  # type: ignore[index]
            "owner": owner,
            "manager": manager,
            "outsider": outsider,
        }.items()
    }
    assert first["owner"]["hours_in_stage_median"] == 20.0
    assert first["manager"]["hours_in_stage_median"] == 10.0
    assert first["outsider"]["hours_in_stage_median"] == 30.0


def test_the_funnel_page_is_scoped_to_the_logged_in_user(cast: Cast, pipeline: Pipeline) -> None:
    from django.test import Client
    from django.urls import reverse

    _deal_moved_after(pipeline, cast.manager, hours=10)
    _deal_moved_after(pipeline, cast.outsider, hours=30)
    client = Client()
    client.force_login(cast.manager)
    response = client.get(
        reverse("web:funnel"),
        {"pipeline_id": pipeline.pk, "date_from": "2026-03-01", "date_to": "2026-04-01"},
    )
    assert response.status_code == 200
    assert response.context["data"]["cohort"] == 1
