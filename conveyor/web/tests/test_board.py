from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.people.models import Person, Temperature
from conveyor.pipelines.models import Deal, DealStatus, Pipeline, Stage
from conveyor.pipelines.services import deal_move, deal_open
from conveyor.testing.factories import (
    LossReasonFactory,
    PersonFactory,
    SegmentFactory,
    pipeline_with_stages,
)
from conveyor.touches.selectors import CARDS_PER_COLUMN
from conveyor.touches.services import task_schedule

pytestmark = pytest.mark.django_db


def _client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _open(
    cast: Cast, pipeline: Pipeline, owner: User | None, amount: str = "100", **person: Any
) -> Deal:
    return deal_open(
        person=PersonFactory(**person),
        pipeline=pipeline,
        owner=owner,
        by=None,
        amount=Decimal(amount),
    )


def _stage(pipeline: Pipeline, position: int) -> Stage:
    return pipeline.stages.get(position=position)


def _bulk_open(
    pipeline: Pipeline, owner: User, per_stage: int, *, source: str = "website"
) -> list[Deal]:
    """`per_stage` open deals in every stage of `pipeline`, written in bulk (volume only: the
    behaviour tests open deals through the service)."""
    stages = list(pipeline.stages.order_by("position"))
    people = Person.objects.bulk_create(
        Person(name=f"Bulk {n}", source=source, temperature=Temperature.HOT)
        for n in range(per_stage * len(stages))
    )
    now = timezone.now()
    return Deal.objects.bulk_create(
        Deal(
            person=person,
            pipeline=pipeline,
            stage=stages[n % len(stages)],
            owner=owner,
            amount=Decimal("10"),
            opened_at=now - dt.timedelta(days=30),
            stage_entered_at=now - dt.timedelta(days=20, minutes=n),
            max_position=stages[n % len(stages)].position,
        )
        for n, person in enumerate(people)
    )


def _cards(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'id="deal-(\d+)"', html)]


def _board(client: Client, pipeline: Pipeline, **query: object) -> Any:
    return client.get(reverse("web:board-pipeline", args=[pipeline.pk]), query)


# --- The page ----------------------------------------------------------------------------------


def test_board_needs_login(client: Client) -> None:
    response = client.get(reverse("web:board"))
    assert response.status_code == 302
    assert reverse("web:login") in response["Location"]


def test_board_shows_columns_with_count_sum_and_next_task(cast: Cast, pipeline: Pipeline) -> None:
    first = _open(cast, pipeline, cast.manager, "100")
    _open(cast, pipeline, cast.manager, "250")
    moved = _open(cast, pipeline, cast.manager, "40")
    deal_move(deal_id=moved.pk, stage=_stage(pipeline, 2), version=1, by=None)
    task_schedule(
        by=None,
        assignee=cast.manager,
        title="Send the price list",
        due_at=timezone.now() + dt.timedelta(days=1),
        deal=first,
    )
    response = _client_for(cast.manager).get(reverse("web:board"))
    assert response.status_code == 200
    columns = response.context["columns"]
    assert [c.count for c in columns] == [2, 1, 0, 0]
    assert [c.total for c in columns][:2] == [Decimal("350"), Decimal("40")]
    html = response.content.decode()
    assert "Send the price list" in html
    assert "No next step" in html  # the other two deals are stalled


def test_manager_sees_only_own_deals_head_sees_team(cast: Cast, pipeline: Pipeline) -> None:
    _open(cast, pipeline, cast.manager)
    _open(cast, pipeline, cast.outsider)
    manager_cols = _client_for(cast.manager).get(reverse("web:board")).context["columns"]
    head_cols = _client_for(cast.head).get(reverse("web:board")).context["columns"]
    owner_cols = _client_for(cast.owner).get(reverse("web:board")).context["columns"]
    assert manager_cols[0].count == 1
    assert head_cols[0].count == 1  # the outsider is in another head's team
    assert owner_cols[0].count == 2


def test_board_loads_htmx_and_sortable_from_static_files_with_a_csp_safe_config(
    cast: Cast, pipeline: Pipeline
) -> None:
    html = _client_for(cast.owner).get(reverse("web:board")).content.decode()
    assert '<script src="/static/vendor/htmx/htmx.min.js" defer></script>' in html
    assert '<script src="/static/vendor/sortablejs/Sortable.min.js" defer></script>' in html
    assert '"includeIndicatorStyles": false' in html
    assert '"allowEval": false' in html
    assert "<script>" not in html and " onclick=" not in html  # nothing inline for the CSP
    # The installed packages are what staticfiles serves (and collectstatic copies).
    assert finders.find("vendor/htmx/htmx.min.js")
    assert finders.find("vendor/sortablejs/Sortable.min.js")


def test_other_pages_do_not_load_the_board_scripts(cast: Cast, pipeline: Pipeline) -> None:
    deal = _open(cast, pipeline, cast.owner)
    html = _client_for(cast.owner).get(reverse("web:deal", args=[deal.pk])).content.decode()
    assert "vendor/htmx" not in html and "vendor/sortablejs" not in html


def test_cards_work_without_javascript_as_links_to_the_deal_page(
    cast: Cast, pipeline: Pipeline
) -> None:
    deal = _open(cast, pipeline, cast.manager)
    html = _client_for(cast.manager).get(reverse("web:board")).content.decode()
    assert f'href="{reverse("web:deal", args=[deal.pk])}"' in html
    # "Log touch" opens the deal page's touch form; the script puts the form in the card.
    assert f'href="{reverse("web:deal", args=[deal.pk])}#touch"' in html
    assert f'data-version="{deal.version}"' in html
    # The drop zones only make sense with JavaScript, which shows them.
    assert re.search(r'<div class="outcomes" data-outcomes hidden>', html)


def test_cards_show_the_temperature_as_a_text_label_in_the_viewers_language(
    cast: Cast, pipeline: Pipeline
) -> None:
    _open(cast, pipeline, cast.manager, temperature=Temperature.HOT)
    _open(cast, pipeline, cast.manager, temperature=Temperature.COLD)
    html = _client_for(cast.manager).get(reverse("web:board")).content.decode()
    label = '<span class="temperature {}"><span class="visually-hidden">Temperature: </span>{}<'
    assert label.format("hot", "Hot") in html
    assert label.format("cold", "Cold") in html
    cast.manager.language = "bg"
    cast.manager.save()
    html = _client_for(cast.manager).get(reverse("web:board")).content.decode()
    assert (
        '<span class="temperature hot"><span class="visually-hidden">Температура: </span>Горещ'
        in html
    )


def test_cards_and_column_sums_show_money_as_the_viewers_language_writes_it(
    cast: Cast, pipeline: Pipeline, settings: Any
) -> None:
    settings.CONVEYOR_CURRENCY = "EUR"
    deal = _open(cast, pipeline, cast.manager, "1234567.40")
    Deal.objects.filter(pk=deal.pk).update(currency="RUB")
    _open(cast, pipeline, cast.manager, "1000")
    html = _client_for(cast.manager).get(reverse("web:board")).content.decode()
    assert '<span class="amount">RUB\xa01,234,567</span>' in html  # whole amounts on cards
    assert '<span class="sum">€1,235,567</span>' in html
    cast.manager.language = "ru"
    cast.manager.save()
    html = _client_for(cast.manager).get(reverse("web:board")).content.decode()
    assert '<span class="amount">1\xa0234\xa0567\xa0₽</span>' in html
    assert '<span class="sum">1\xa0235\xa0567\xa0€</span>' in html


def test_every_card_can_be_moved_without_dragging(cast: Cast, pipeline: Pipeline) -> None:
    deal = _open(cast, pipeline, cast.manager)
    client = _client_for(cast.manager)
    html = client.get(reverse("web:board")).content.decode()
    deal_url = reverse("web:deal", args=[deal.pk])
    # Without JavaScript "Move" is a link to the deal page's move form.
    assert f'<a class="card-move" href="{deal_url}#move" data-move' in html
    assert 'id="move"' in client.get(deal_url).content.decode()
    # With it, the link opens the board's one "Move to" dialog: the open stages, Won, Lost.
    picker = re.search(
        r'<select name="target" id="board-move-to-target" required>(.*?)</select>', html, re.S
    )
    assert picker
    offered = re.findall(r'<option value="([^"]+)">', picker.group(1))
    stages = [str(s.pk) for s in pipeline.stages.filter(is_archived=False).order_by("position")]
    assert offered == [*stages, "win", "lose"]


# --- Filters -------------------------------------------------------------------------------------


def test_owner_filter_narrows_cards_counts_and_sums(cast: Cast, pipeline: Pipeline) -> None:
    mine = _open(cast, pipeline, cast.head, "70")
    theirs = _open(cast, pipeline, cast.manager, "30")
    response = _board(_client_for(cast.head), pipeline, owner=cast.manager.pk)
    column = response.context["columns"][0]
    assert (column.count, column.total) == (1, Decimal("30"))
    assert _cards(response.content.decode()) == [theirs.pk]
    assert mine.pk not in _cards(response.content.decode())


def test_owner_filter_offers_only_the_users_the_viewer_may_see(
    cast: Cast, pipeline: Pipeline
) -> None:
    form = _board(_client_for(cast.head), pipeline).context["form"]
    offered = {value for value, _label in form.fields["owner"].choices if value}
    assert offered == {cast.head.pk, cast.manager.pk}
    # A manager sees their own deals only: no owner filter at all.
    html = _board(_client_for(cast.manager), pipeline).content.decode()
    assert 'name="owner"' not in html


def test_owner_filter_naming_someone_out_of_reach_shows_nothing_of_theirs(
    cast: Cast, pipeline: Pipeline
) -> None:
    _open(cast, pipeline, cast.outsider)
    own = _open(cast, pipeline, cast.manager)
    response = _board(_client_for(cast.head), pipeline, owner=cast.outsider.pk)
    assert _cards(response.content.decode()) == [own.pk]
    assert response.context["form"].errors["owner"]


def test_source_temperature_and_search_filters(cast: Cast, pipeline: Pipeline) -> None:
    ads = _open(cast, pipeline, cast.manager, "10", source="ads", temperature=Temperature.HOT)
    _open(cast, pipeline, cast.manager, "20", source="ads", temperature=Temperature.COLD)
    _open(cast, pipeline, cast.manager, "40", source="website", temperature=Temperature.HOT)
    client = _client_for(cast.manager)
    response = _board(client, pipeline, source="ads", temperature="hot")
    assert _cards(response.content.decode()) == [ads.pk]
    assert response.context["columns"][0].count == 1
    assert response.context["columns"][0].total == Decimal("10")
    offered = {value for value, _label in response.context["form"].fields["source"].choices}
    assert {"ads", "website"} <= offered


def test_search_finds_a_person_by_name_email_or_phone(cast: Cast, pipeline: Pipeline) -> None:
    elena = _open(
        cast,
        pipeline,
        cast.manager,
        name="Elena Petrova",
        email="elena@firma.bg",
        phone="+359888100200",
    )
    _open(cast, pipeline, cast.manager, name="Nikolai Ivanov", email="nick@example.ru")
    client = _client_for(cast.manager)
    for term in ("petrova", "ELENA@firma", "0888 100 200", "+359 888 100 200"):
        response = _board(client, pipeline, q=term)
        assert _cards(response.content.decode()) == [elena.pk], term
        assert response.context["columns"][0].count == 1, term


def test_segment_switches_the_pipeline_list(cast: Cast, pipeline: Pipeline) -> None:
    other_segment = SegmentFactory(name="Enterprise")
    other = pipeline_with_stages(segment=other_segment, name="Enterprise / first sale")
    theirs = _open(cast, other, cast.owner)
    client = _client_for(cast.owner)
    # The pipeline in the address belongs to another segment: the segment's first one shows.
    response = _board(client, pipeline, segment=other_segment.pk)
    assert response.context["pipeline"] == other
    assert response.context["pipelines"] == [other]
    assert _cards(response.content.decode()) == [theirs.pk]
    html = response.content.decode()
    assert f'href="/board/{other.pk}/?segment={other_segment.pk}"' in html
    assert f'href="/board/{pipeline.pk}/' not in html


def test_filters_are_kept_in_the_links_the_board_renders(cast: Cast, pipeline: Pipeline) -> None:
    _bulk_open(pipeline, cast.manager, CARDS_PER_COLUMN + 1, source="ads")
    response = _board(_client_for(cast.owner), pipeline, source="ads", q="Bulk")
    html = response.content.decode()
    assert "source=ads&amp;q=Bulk" in html  # pipeline links, show more, the moves
    assert re.search(r'data-query="source=ads&amp;q=Bulk"', html)
    # The quick-touch form the cards share comes back to the same filtered board.
    assert f'name="next" value="/board/{pipeline.pk}/?source=ads&amp;q=Bulk"' in html


# --- One column at a time ------------------------------------------------------------------------


def _more_url(html: str) -> str | None:
    found = re.search(r'<li class="more"><a href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_each_column_shows_its_first_page_and_a_show_more_link(
    cast: Cast, pipeline: Pipeline
) -> None:
    _bulk_open(pipeline, cast.manager, CARDS_PER_COLUMN + 5)
    response = _board(_client_for(cast.owner), pipeline)
    columns = response.context["columns"]
    assert [len(c.cards) for c in columns] == [CARDS_PER_COLUMN] * 4
    assert [c.count for c in columns] == [CARDS_PER_COLUMN + 5] * 4
    assert all(c.more_url for c in columns)
    html = response.content.decode()
    assert html.count('hx-target="closest li" hx-swap="outerHTML"') == 4


def test_a_filtered_board_shows_the_first_matching_cards_of_every_column(
    cast: Cast, pipeline: Pipeline
) -> None:
    ads = _bulk_open(pipeline, cast.manager, CARDS_PER_COLUMN + 3, source="ads")
    _bulk_open(pipeline, cast.manager, 5, source="website")
    response = _board(_client_for(cast.owner), pipeline, source="ads")
    for column in response.context["columns"]:
        matching = sorted(
            (d for d in ads if d.stage_id == column.stage.pk),
            key=lambda d: (d.stage_entered_at, d.pk),
        )
        assert [d.pk for d in column.cards] == [d.pk for d in matching[:CARDS_PER_COLUMN]]
        assert column.count == CARDS_PER_COLUMN + 3 and column.more_url


def test_show_more_pages_through_one_column_in_order_without_repeats(
    cast: Cast, pipeline: Pipeline
) -> None:
    deals = _bulk_open(pipeline, cast.manager, 2 * CARDS_PER_COLUMN + 7)
    first_stage = _stage(pipeline, 1)
    expected = [
        d.pk
        for d in sorted(
            (d for d in deals if d.stage_id == first_stage.pk),
            key=lambda d: (d.stage_entered_at, d.pk),
        )
    ]
    client = _client_for(cast.owner)
    response = _board(client, pipeline)
    seen = [d.pk for d in response.context["columns"][0].cards]
    url = response.context["columns"][0].more_url
    pages = 0
    while url:
        page = client.get(url, headers={"HX-Request": "true"})
        assert page.status_code == 200
        assert "<html" not in page.content.decode()  # a fragment for htmx
        assert page["Vary"] and "HX-Request" in page["Vary"]
        seen += _cards(page.content.decode())
        url = _more_url(page.content.decode())
        pages += 1
        assert pages <= 2, "Show more keeps offering pages"
    assert pages == 2
    assert seen == expected


def test_show_more_stays_right_when_cards_before_it_move_away(
    cast: Cast, pipeline: Pipeline
) -> None:
    deals = _bulk_open(pipeline, cast.manager, CARDS_PER_COLUMN + 10)
    client = _client_for(cast.owner)
    response = _board(client, pipeline)
    shown = response.context["columns"][0].cards
    url = response.context["columns"][0].more_url
    # Someone moves three of the cards already shown to the next stage.
    for deal in shown[:3]:
        deal_move(deal_id=deal.pk, stage=_stage(pipeline, 2), version=deal.version, by=None)
    page = _cards(client.get(url, headers={"HX-Request": "true"}).content.decode())
    first_stage = _stage(pipeline, 1).pk
    rest = sorted(
        (d for d in deals if d.stage_id == first_stage), key=lambda d: (d.stage_entered_at, d.pk)
    )[CARDS_PER_COLUMN:]
    assert page == [d.pk for d in rest]


def test_show_more_without_javascript_is_a_page_of_its_own(cast: Cast, pipeline: Pipeline) -> None:
    _bulk_open(pipeline, cast.manager, CARDS_PER_COLUMN + 2)
    client = _client_for(cast.owner)
    url = _board(client, pipeline).context["columns"][0].more_url
    page = client.get(url)
    html = page.content.decode()
    assert "<html" in html and len(_cards(html)) == 2
    assert f'href="/board/{pipeline.pk}/"' in html  # back to the board


def test_show_more_with_a_mangled_cursor_starts_at_the_top(cast: Cast, pipeline: Pipeline) -> None:
    deal = _open(cast, pipeline, cast.owner)
    stage = _stage(pipeline, 1)
    url = reverse("web:board-cards", args=[pipeline.pk, stage.pk])
    page = _client_for(cast.owner).get(
        url, {"after": "yesterday.x"}, headers={"HX-Request": "true"}
    )
    assert _cards(page.content.decode()) == [deal.pk]


def test_show_more_of_a_stage_of_another_pipeline_is_not_found(
    cast: Cast, pipeline: Pipeline
) -> None:
    other = pipeline_with_stages()
    url = reverse("web:board-cards", args=[pipeline.pk, _stage(other, 1).pk])
    assert _client_for(cast.owner).get(url).status_code == 404


def test_column_pages_show_only_what_the_viewer_may_see(cast: Cast, pipeline: Pipeline) -> None:
    _open(cast, pipeline, cast.manager)
    stage = _stage(pipeline, 1)
    url = reverse("web:board-cards", args=[pipeline.pk, stage.pk])
    page = _client_for(cast.outsider).get(url, headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert _cards(page.content.decode()) == []


# --- Moves made on the board ---------------------------------------------------------------------


def _act(client: Client, deal: Deal, action: str, query: str = "", **data: object) -> Any:
    url = reverse("web:board-deal-action", args=[deal.pk, action])
    return client.post(f"{url}?{query}" if query else url, data, headers={"HX-Request": "true"})


def _totals(html: str) -> dict[int, str]:
    """Stage id -> the count text of the out-of-band totals in a move's answer."""
    return {
        int(stage): count
        for stage, count in re.findall(
            r'<p class="totals" id="totals-(\d+)" hx-swap-oob="true"><span class="count">([^<]+)<',
            html,
        )
    }


def test_moving_forward_needs_the_exit_criterion_confirmed(cast: Cast, pipeline: Pipeline) -> None:
    deal = _open(cast, pipeline, cast.manager)
    client = _client_for(cast.manager)
    second = _stage(pipeline, 2)
    refused = _act(client, deal, "move", stage=second.pk, version=deal.version)
    assert refused.status_code == 400
    assert (
        "Confirm the client&#x27;s action first: Client did something" in refused.content.decode()
    )
    deal.refresh_from_db()
    assert (deal.stage_id, deal.version) == (_stage(pipeline, 1).pk, 1)


def test_a_confirmed_move_answers_with_the_card_and_both_columns_totals(
    cast: Cast, pipeline: Pipeline
) -> None:
    deal = _open(cast, pipeline, cast.manager)
    _open(cast, pipeline, cast.manager)
    first, second = _stage(pipeline, 1), _stage(pipeline, 2)
    response = _act(
        _client_for(cast.manager), deal, "move", stage=second.pk, version=1, confirmed="on"
    )
    assert response.status_code == 200
    html = response.content.decode()
    deal.refresh_from_db()
    assert deal.stage_id == second.pk and deal.version == 2
    assert _cards(html) == [deal.pk]
    assert 'data-version="2"' in html and f'data-stage="{second.pk}"' in html
    assert _totals(html) == {first.pk: "1 deal", second.pk: "1 deal"}


def test_moving_back_needs_no_confirmation(cast: Cast, pipeline: Pipeline) -> None:
    deal = _open(cast, pipeline, cast.manager)
    deal = deal_move(deal_id=deal.pk, stage=_stage(pipeline, 3), version=1, by=None)
    response = _act(
        _client_for(cast.manager), deal, "move", stage=_stage(pipeline, 2).pk, version=2
    )
    assert response.status_code == 200
    deal.refresh_from_db()
    assert deal.stage.position == 2


def test_a_move_on_a_stale_card_is_a_conflict_and_changes_nothing(
    cast: Cast, pipeline: Pipeline
) -> None:
    deal = _open(cast, pipeline, cast.manager)
    # Someone else moved it since the board was rendered with version 1.
    deal_move(deal_id=deal.pk, stage=_stage(pipeline, 3), version=1, by=cast.head)
    response = _act(
        _client_for(cast.manager),
        deal,
        "move",
        stage=_stage(pipeline, 2).pk,
        version=1,
        confirmed="on",
    )
    assert response.status_code == 409
    assert "Someone else changed this deal" in response.content.decode()
    deal.refresh_from_db()
    assert (deal.stage.position, deal.version) == (3, 2)


def test_a_move_refused_by_the_mandatory_playbook_says_so(cast: Cast, pipeline: Pipeline) -> None:
    first = _stage(pipeline, 1)
    first.playbook = [{"text": "Sent the price", "mandatory": True}]
    first.save()
    deal = _open(cast, pipeline, cast.manager)
    response = _act(
        _client_for(cast.manager),
        deal,
        "move",
        stage=_stage(pipeline, 2).pk,
        version=1,
        confirmed="on",
    )
    assert response.status_code == 400
    assert "Sent the price" in response.content.decode()
    deal.refresh_from_db()
    assert deal.stage_id == first.pk


def test_dropping_on_lost_closes_with_a_reason_and_updates_the_column(
    cast: Cast, pipeline: Pipeline
) -> None:
    reason = LossReasonFactory(pipeline=pipeline, name="Too expensive")
    deal = _open(cast, pipeline, cast.manager, "500")
    response = _act(_client_for(cast.manager), deal, "lose", reason=reason.pk, version=1)
    assert response.status_code == 200
    html = response.content.decode()
    assert _cards(html) == []  # the card leaves the board
    assert _totals(html) == {_stage(pipeline, 1).pk: "0 deals"}
    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason, deal.lost_stage) == (
        DealStatus.LOST,
        reason,
        _stage(pipeline, 1),
    )


def test_the_loss_dialog_offers_the_catalogue_and_losing_needs_a_reason(
    cast: Cast, pipeline: Pipeline
) -> None:
    reason = LossReasonFactory(pipeline=pipeline, name="Went silent")
    limited = LossReasonFactory(pipeline=pipeline, name="Bad fit")
    limited.stages.add(_stage(pipeline, 2))
    LossReasonFactory(pipeline=pipeline_with_stages(), name="Other pipeline's reason")
    deal = _open(cast, pipeline, cast.manager)
    client = _client_for(cast.manager)
    html = _board(client, pipeline).content.decode()
    assert f'<option value="{reason.pk}" data-stages="">Went silent</option>' in html
    assert f'data-stages="{_stage(pipeline, 2).pk}">Bad fit</option>' in html
    assert "Other pipeline&#x27;s reason" not in html
    assert _act(client, deal, "lose", version=1).status_code == 400
    # A reason limited to another stage, and a refusal without the unmet criteria: refused.
    assert _act(client, deal, "lose", reason=limited.pk, version=1).status_code == 400
    refusal = _act(client, deal, "lose", reason=reason.pk, refused_by_us="on", version=1)
    assert refusal.status_code == 400
    assert "say which criteria" in refusal.content.decode()
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN


def test_dropping_on_won_closes_with_the_amount(cast: Cast, pipeline: Pipeline) -> None:
    deal = _open(cast, pipeline, cast.manager, "500")
    response = _act(_client_for(cast.manager), deal, "win", amount="650.50", version=1)
    assert response.status_code == 200
    deal.refresh_from_db()
    assert (deal.status, deal.amount) == (DealStatus.WON, Decimal("650.50"))
    assert _totals(response.content.decode()) == {_stage(pipeline, 1).pk: "0 deals"}


def test_totals_after_a_move_count_what_the_filter_selects(cast: Cast, pipeline: Pipeline) -> None:
    deal = _open(cast, pipeline, cast.manager, source="ads")
    _open(cast, pipeline, cast.manager, source="website")
    response = _act(
        _client_for(cast.manager),
        deal,
        "move",
        query="source=ads",
        stage=_stage(pipeline, 2).pk,
        version=1,
        confirmed="on",
    )
    html = response.content.decode()
    assert _totals(html) == {_stage(pipeline, 1).pk: "0 deals", _stage(pipeline, 2).pk: "1 deal"}


def test_a_head_moves_a_deal_of_their_team(cast: Cast, pipeline: Pipeline) -> None:
    deal = _open(cast, pipeline, cast.manager)
    response = _act(
        _client_for(cast.head),
        deal,
        "move",
        stage=_stage(pipeline, 2).pk,
        version=1,
        confirmed="on",
    )
    assert response.status_code == 200


@pytest.mark.parametrize("action", ["move", "win", "lose"])
def test_someone_out_of_reach_can_neither_see_nor_change_the_deal(
    cast: Cast, pipeline: Pipeline, action: str
) -> None:
    reason = LossReasonFactory(pipeline=pipeline)
    deal = _open(cast, pipeline, cast.manager)
    data = {"stage": _stage(pipeline, 2).pk, "confirmed": "on", "amount": "1", "reason": reason.pk}
    for user in (cast.outsider, cast.other_head):
        response = _act(_client_for(user), deal, action, version=1, **data)
        assert response.status_code == 404
        board = _board(_client_for(user), pipeline).content.decode()
        assert deal.pk not in _cards(board)
    deal.refresh_from_db()
    assert (deal.status, deal.stage.position, deal.version) == (DealStatus.OPEN, 1, 1)


def test_board_actions_are_posts_and_only_the_three(cast: Cast, pipeline: Pipeline) -> None:
    deal = _open(cast, pipeline, cast.owner)
    client = _client_for(cast.owner)
    assert client.get(reverse("web:board-deal-action", args=[deal.pk, "move"])).status_code == 405
    assert _act(client, deal, "reopen", version=1).status_code == 404
    assert _act(client, deal, "touch", kind="warming", channel="call").status_code == 404


# --- A fixed number of queries, whatever the number of deals -----------------------------------


@pytest.mark.parametrize("per_stage", [1, 200])
def test_board_page_runs_a_fixed_number_of_queries_with_filters_on(
    cast: Cast, pipeline: Pipeline, per_stage: int, django_assert_num_queries: Any
) -> None:
    LossReasonFactory(pipeline=pipeline)
    _bulk_open(pipeline, cast.manager, per_stage, source="ads")
    client = _client_for(cast.head)
    query = {"owner": cast.manager.pk, "source": "ads", "temperature": "hot", "q": "Bulk"}
    # session, user, pipelines with segments, their stages, owners offered, sources offered,
    # column totals, cards, loss reasons and their stages, the agenda and inbox badges
    with django_assert_num_queries(12):
        response = _board(client, pipeline, **query)
    assert [c.count for c in response.context["columns"]] == [per_stage] * 4
    assert len(response.context["columns"][0].cards) == min(per_stage, CARDS_PER_COLUMN)


@pytest.mark.parametrize("per_stage", [1, 200])
def test_a_column_page_runs_a_fixed_number_of_queries_with_filters_on(
    cast: Cast, pipeline: Pipeline, per_stage: int, django_assert_num_queries: Any
) -> None:
    deals = _bulk_open(pipeline, cast.manager, per_stage, source="ads")
    client = _client_for(cast.head)
    stage = _stage(pipeline, 1)
    url = reverse("web:board-cards", args=[pipeline.pk, stage.pk])
    after = f"{int(timezone.now().timestamp() * 1_000_000) - 10**15}.0"  # long before any card
    query = {"owner": cast.manager.pk, "source": "ads", "temperature": "hot", "q": "Bulk"}
    # session, user, pipelines with segments, their stages, owners offered, sources offered,
    # the page of cards
    with django_assert_num_queries(7):
        page = client.get(url, {**query, "after": after}, headers={"HX-Request": "true"})
    cards = _cards(page.content.decode())
    assert len(cards) == min(per_stage, CARDS_PER_COLUMN)
    assert set(cards) <= {d.pk for d in deals if d.stage_id == stage.pk}
    assert (_more_url(page.content.decode()) is not None) == (per_stage > CARDS_PER_COLUMN)
