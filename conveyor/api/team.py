"""`/api/v1/users`, `/teams`, `/sales-plans`, `/expenses` and `/holidays`: the team and what is
planned and spent, as on the web's settings screens.

Who may do what is the web's rule (`conveyor.web.views.settings.team` and `.holidays`):
owners and heads of sales manage these, everyone else is refused (403). Two reads are wider,
as in the web app, where every user is offered every active colleague by name (the inbox's
"accept for" owner, the bulk hand-over) and sees their own team in the reports' filter:
`GET /users` lists every active colleague (plus the switched-off users the caller manages)
and `GET /teams` the teams the caller may filter reports by (a manager: their own). Capacity
and language are shown only for the users the caller manages. Password hashes never leave: a
password may be set, never read.

Users, sales plans, expenses and holidays page by cursor (they grow with time); teams are small
configuration and come as a plain list.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar, Literal

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import StrictBool

from conveyor.accounts.models import Holiday, Role, SalesPlan, Team, User
from conveyor.accounts.selectors import (
    managed_plans,
    managed_teams,
    managed_users,
    settings_holidays,
)
from conveyor.accounts.services import (
    holiday_delete,
    holiday_save,
    sales_plan_save,
    team_save,
    user_save,
)
from conveyor.analytics.models import Expense
from conveyor.analytics.selectors import settings_expenses, teams_for
from conveyor.analytics.services import expense_save
from conveyor.api.auth import api_user, settings_user
from conveyor.api.errors import chosen, fields_as_sent
from conveyor.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, filtered, page
from conveyor.api.types import (
    MAX_INT32,
    BodyIn,
    Id,
    IsoDate,
    PatchIn,
    Text,
    fields_sent,
    locked,
    unsent,
)

users_router = Router()
teams_router = Router()
plans_router = Router()
expenses_router = Router()
holidays_router = Router()

UserOrdering = Literal["name", "-name", "email", "-email", "id", "-id"]
PlanOrdering = Literal["-month", "month", "id", "-id"]
ExpenseOrdering = Literal["-period_start", "period_start", "id", "-id"]
HolidayOrdering = Literal["-date", "date", "id", "-id"]

PATCH_DESCRIPTION = "Only the fields sent change."


# --- Users ---------------------------------------------------------------------------------


class UserOut(Schema):
    id: int
    email: str
    name: str
    role: Role
    team_id: Id | None
    is_active: bool
    capacity: int | None = Field(
        description="Open deals this person can carry; null unless the caller manages them."
    )
    language: str | None = Field(
        description='Interface language ("" = the browser\'s); null unless the caller manages them.'
    )

    @staticmethod
    def resolve_capacity(user: User) -> int | None:
        return user.capacity if getattr(user, "managed", False) else None

    @staticmethod
    def resolve_language(user: User) -> str | None:
        return user.language if getattr(user, "managed", False) else None


class UserPage(Schema):
    items: list[UserOut]
    next_cursor: str | None


class UserFilters(Schema):
    role: Role | None = None
    team_id: Id | None = None
    is_active: bool | None = None


class UserIn(BodyIn):
    email: Text = Field(..., min_length=1, max_length=254)
    name: Text = Field("", max_length=150)
    password: str = Field(
        ...,
        min_length=1,
        max_length=1024,
        description="Must pass the password rules. Never shown back.",
    )
    role: Role = Field(Role.MANAGER, description="Only the owner makes owners and heads.")
    team_id: Id | None = Field(
        None, description="A head of sales puts new users into a team they head."
    )
    capacity: int = Field(60, ge=0, le=MAX_INT32)
    language: Text = Field("", max_length=8, description='"en", "ru", "bg", or "" (browser).')
    is_active: StrictBool = True


class UserPatchIn(PatchIn):
    email: Text = unsent(min_length=1, max_length=254)
    name: Text = unsent(max_length=150)
    password: str = unsent(
        max_length=1024,
        description="A new password (must pass the password rules); empty keeps it.",
    )
    role: Role = unsent(description="Only the owner makes or unmakes owners and heads.")
    team_id: Id | None = Field(None, description="A head of sales: a team they head.")
    capacity: int = unsent(ge=0, le=MAX_INT32)
    language: Text = unsent(max_length=8, description='"en", "ru", "bg", or "" (browser).')
    is_active: StrictBool = unsent(description="Nobody switches themselves off.")


def _users_seen_by(user: User) -> QuerySet[User]:
    """Every active colleague and the users `user` manages (also switched-off ones), each
    marked `managed` when `user` manages them (then capacity and language are shown)."""
    managed = managed_users(user)
    return User.objects.filter(Q(is_active=True) | Q(pk__in=managed.values("pk"))).annotate(
        managed=Exists(managed.filter(pk=OuterRef("pk")))
    )


def _save_user(by: User, user_id: int | None, data: dict[str, Any], team: Team | None) -> User:
    with fields_as_sent({"team": "team_id"}):
        saved = user_save(
            by=by,
            user_id=user_id,
            email=data["email"],
            name=data["name"],
            role=data["role"],
            team=team,
            capacity=data["capacity"],
            language=data["language"],
            is_active=data["is_active"],
            password=data.get("password") or "",
        )
    # The answer as the caller now sees the user (capacity and language if they manage them).
    return _users_seen_by(by).filter(pk=saved.pk).first() or saved


@users_router.get(
    "",
    response=UserPage,
    summary="List users",
    description=(
        "Every active colleague (to pick owners and assignees) and the switched-off users you "
        "manage. Capacity and language are shown for the users you manage only."
    ),
)
def user_list(
    request: HttpRequest,
    filters: Query[UserFilters],
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    ordering: UserOrdering = "name",
) -> dict[str, Any]:
    queryset = filtered(_users_seen_by(api_user(request)), filters)
    items, next_cursor = page(queryset, cursor=cursor, limit=limit, ordering=ordering)
    return {"items": items, "next_cursor": next_cursor}


@users_router.get("/{user_id}", response=UserOut, summary="One user")
def user_detail(request: HttpRequest, user_id: Id) -> User:
    return _users_seen_by(api_user(request)).get(pk=user_id)


@users_router.post(
    "",
    response={201: UserOut},
    summary="Add a user",
    description=(
        "Owners add anyone; a head of sales adds managers to the teams they head. The "
        "role decides the Django admin access, as on the web."
    ),
)
def user_add(request: HttpRequest, payload: UserIn) -> Status[User]:
    by = settings_user(request)
    team = chosen(managed_teams(by), payload.team_id, "team_id", _("No such team."))
    return Status(201, _save_user(by, None, payload.model_dump(), team))


@users_router.patch(
    "/{user_id}",
    response=UserOut,
    summary="Change a user",
    description=(
        f"{PATCH_DESCRIPTION} The owner changes anyone; a head of sales the managers of the "
        "teams they head and their own profile (not their role). The last active owner stays "
        "one."
    ),
)
def user_change(request: HttpRequest, user_id: Id, payload: UserPatchIn) -> User:
    with transaction.atomic():
        by = settings_user(request)
        user = locked(managed_users(by).get(pk=user_id))
        sent = fields_sent(payload)
        data = {
            "email": user.email,
            "name": user.name,
            "role": user.role,
            "capacity": user.capacity,
            "language": user.language,
            "is_active": user.is_active,
            **sent,
        }
        team = user.team
        if "team_id" in sent:
            team = chosen(managed_teams(by), sent["team_id"], "team_id", _("No such team."))
        return _save_user(by, user.pk, data, team)


# --- Teams ---------------------------------------------------------------------------------


class TeamOut(Schema):
    id: int
    name: str
    head_id: Id | None


class TeamIn(BodyIn):
    name: Text = Field(..., min_length=1, max_length=120)
    head_id: Id | None = Field(
        None,
        description=(
            "An active owner or head of sales; a head of sales names themselves (only the "
            "owner makes someone else a team's head)."
        ),
    )


class TeamPatchIn(PatchIn):
    name: Text = unsent(min_length=1, max_length=120)
    head_id: Id | None = Field(None, description="A head of sales keeps themselves.")


def _head(by: User, head_id: int | None) -> User | None:
    return chosen(_users_seen_by(by), head_id, "head_id", _("No such user."))


@teams_router.get(
    "",
    response=list[TeamOut],
    summary="List teams",
    description="All for the owner, the teams they head for a head of sales, a manager's own.",
)
def team_list(request: HttpRequest) -> Any:
    return teams_for(api_user(request))


@teams_router.get("/{team_id}", response=TeamOut, summary="One team")
def team_detail(request: HttpRequest, team_id: Id) -> Team:
    return teams_for(api_user(request)).get(pk=team_id)


@teams_router.post("", response={201: TeamOut}, summary="Add a team")
def team_add(request: HttpRequest, payload: TeamIn) -> Status[Team]:
    by = settings_user(request)
    with fields_as_sent({"head": "head_id"}):
        team = team_save(by=by, team_id=None, name=payload.name, head=_head(by, payload.head_id))
    return Status(201, team)


@teams_router.patch(
    "/{team_id}",
    response=TeamOut,
    summary="Rename a team or change its head",
    description=f"{PATCH_DESCRIPTION} A head of sales changes the teams they head only.",
)
def team_change(request: HttpRequest, team_id: Id, payload: TeamPatchIn) -> Team:
    with transaction.atomic():
        by = settings_user(request)
        team = locked(managed_teams(by).get(pk=team_id))
        data = {"name": team.name, "head_id": team.head_id, **fields_sent(payload)}
        head = team.head if data["head_id"] == team.head_id else _head(by, data["head_id"])
        with fields_as_sent({"head": "head_id"}):
            return team_save(by=by, team_id=team.pk, name=data["name"], head=head)


# --- Sales plans ---------------------------------------------------------------------------


class PlanOut(Schema):
    id: int
    user_id: Id | None
    team_id: Id | None
    month: dt.date = Field(description="The first day of the month.")
    revenue: Decimal
    deals: int


class PlanPage(Schema):
    items: list[PlanOut]
    next_cursor: str | None


class PlanFilters(Schema):
    user_id: Id | None = Field(None, description="One manager's plans.")
    team_id: Id | None = Field(None, description="One team's plans (not its members').")
    month: IsoDate | None = Field(None, description="Any day of the month.")


class PlanIn(BodyIn):
    user_id: Id | None = Field(None, description="A user or a team, not both.")
    team_id: Id | None = None
    month: IsoDate = Field(..., description="Any day of the month; stored as its first day.")
    revenue: Decimal = Field(Decimal(0), ge=0, max_digits=14, decimal_places=2)
    deals: int = Field(0, ge=0, le=MAX_INT32)


class PlanPatchIn(PatchIn):
    user_id: Id | None = Field(None, description="A user or a team, not both.")
    team_id: Id | None = None
    month: IsoDate = unsent(description="Any day of the month; stored as its first day.")
    revenue: Decimal = unsent(ge=0, max_digits=14, decimal_places=2)
    deals: int = unsent(ge=0, le=MAX_INT32)


def _save_plan(
    by: User, plan: SalesPlan | None, data: dict[str, Any], sent: dict[str, Any]
) -> SalesPlan:
    """Save `data` as the plan (None: a new one); its user and team, when `sent`, are chosen
    among the active users and the teams `by` manages (the web form's choices)."""
    user = plan.user if plan is not None and "user_id" not in sent else None
    team = plan.team if plan is not None and "team_id" not in sent else None
    if user is None:
        user = chosen(
            managed_users(by).filter(is_active=True),
            data["user_id"],
            "user_id",
            _("No such user."),
        )
    if team is None:
        team = chosen(managed_teams(by), data["team_id"], "team_id", _("No such team."))
    with fields_as_sent({"user": "user_id", "team": "team_id"}):
        return sales_plan_save(
            by=by,
            plan_id=plan.pk if plan is not None else None,
            user=user,
            team=team,
            month=data["month"],
            revenue=data["revenue"],
            deals=data["deals"],
        )


@plans_router.get(
    "",
    response=PlanPage,
    summary="List sales plans",
    description="All for the owner; a head of sales': their teams', their people's, their own.",
)
def plan_list(
    request: HttpRequest,
    filters: Query[PlanFilters],
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    ordering: PlanOrdering = "-month",
) -> dict[str, Any]:
    queryset = managed_plans(settings_user(request))
    if filters.month is not None:
        queryset = queryset.filter(month=filters.month.replace(day=1))
    queryset = filtered(queryset, filters.model_copy(update={"month": None}))
    items, next_cursor = page(queryset, cursor=cursor, limit=limit, ordering=ordering)
    return {"items": items, "next_cursor": next_cursor}


@plans_router.get("/{plan_id}", response=PlanOut, summary="One sales plan")
def plan_detail(request: HttpRequest, plan_id: Id) -> SalesPlan:
    return managed_plans(settings_user(request)).get(pk=plan_id)


@plans_router.post(
    "",
    response={201: PlanOut},
    summary="Set a month's sales plan",
    description="For one user or one team; one plan per user (or team) and month.",
)
def plan_add(request: HttpRequest, payload: PlanIn) -> Status[SalesPlan]:
    by = settings_user(request)
    data = payload.model_dump()
    return Status(201, _save_plan(by, None, data, data))


@plans_router.patch(
    "/{plan_id}",
    response=PlanOut,
    summary="Change a sales plan",
    description=(
        f"{PATCH_DESCRIPTION} To move a user's plan to a team send both "
        '`{"user_id": null, "team_id": …}`.'
    ),
)
def plan_change(request: HttpRequest, plan_id: Id, payload: PlanPatchIn) -> SalesPlan:
    with transaction.atomic():
        by = settings_user(request)
        plan = locked(managed_plans(by).get(pk=plan_id))
        sent = fields_sent(payload)
        data = {
            "user_id": plan.user_id,
            "team_id": plan.team_id,
            "month": plan.month,
            "revenue": plan.revenue,
            "deals": plan.deals,
            **sent,
        }
        return _save_plan(by, plan, data, sent)


# --- Expenses ------------------------------------------------------------------------------


class ExpenseOut(Schema):
    id: int
    channel: str
    period_start: dt.date
    period_end: dt.date = Field(description="Inclusive.")
    amount: Decimal
    note: str


class ExpensePage(Schema):
    items: list[ExpenseOut]
    next_cursor: str | None


class ExpenseFilters(Schema):
    channel: Text | None = Field(None, max_length=64)
    month: IsoDate | None = Field(
        None, description="Any day of the month: the expenses whose period overlaps it."
    )


class ExpenseIn(BodyIn):
    channel: Text = Field(
        ...,
        min_length=1,
        max_length=64,
        description="Exactly as people's source is written (e.g. google_ads).",
    )
    period_start: IsoDate
    period_end: IsoDate = Field(..., description="Inclusive; not before the start.")
    amount: Decimal = Field(..., ge=0, max_digits=14, decimal_places=2)
    note: Text = Field("", max_length=200)


class ExpensePatchIn(PatchIn):
    channel: Text = unsent(min_length=1, max_length=64)
    period_start: IsoDate = unsent()
    period_end: IsoDate = unsent(description="Inclusive; not before the start.")
    amount: Decimal = unsent(ge=0, max_digits=14, decimal_places=2)
    note: Text = unsent(max_length=200)


def _save_expense(by: User, expense_id: int | None, data: dict[str, Any]) -> Expense:
    return expense_save(
        by=by,
        expense_id=expense_id,
        channel=data["channel"],
        period_start=data["period_start"],
        period_end=data["period_end"],
        amount=data["amount"],
        note=data["note"],
    )


@expenses_router.get("", response=ExpensePage, summary="List expenses")
def expense_list(
    request: HttpRequest,
    filters: Query[ExpenseFilters],
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    ordering: ExpenseOrdering = "-period_start",
) -> dict[str, Any]:
    settings_user(request)
    queryset = settings_expenses()
    if filters.channel is not None:
        queryset = queryset.filter(channel=filters.channel)
    if filters.month is not None:
        first = filters.month.replace(day=1)
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        queryset = queryset.filter(period_start__lte=last, period_end__gte=first)
    items, next_cursor = page(queryset, cursor=cursor, limit=limit, ordering=ordering)
    return {"items": items, "next_cursor": next_cursor}


@expenses_router.get("/{expense_id}", response=ExpenseOut, summary="One expense")
def expense_detail(request: HttpRequest, expense_id: Id) -> Expense:
    settings_user(request)
    return settings_expenses().get(pk=expense_id)


@expenses_router.post(
    "",
    response={201: ExpenseOut},
    summary="Record an expense",
    description="Spend on one channel over a period; one expense per channel and period.",
)
def expense_add(request: HttpRequest, payload: ExpenseIn) -> Status[Expense]:
    by = settings_user(request)
    return Status(201, _save_expense(by, None, payload.model_dump()))


@expenses_router.patch(
    "/{expense_id}", response=ExpenseOut, summary="Change an expense", description=PATCH_DESCRIPTION
)
def expense_change(request: HttpRequest, expense_id: Id, payload: ExpensePatchIn) -> Expense:
    with transaction.atomic():
        by = settings_user(request)
        expense = locked(settings_expenses().get(pk=expense_id))
        data = {
            "channel": expense.channel,
            "period_start": expense.period_start,
            "period_end": expense.period_end,
            "amount": expense.amount,
            "note": expense.note,
            **fields_sent(payload),
        }
        return _save_expense(by, expense.pk, data)


# --- Holidays ------------------------------------------------------------------------------


class HolidayOut(Schema):
    id: int
    date: dt.date
    name: str


class HolidayPage(Schema):
    items: list[HolidayOut]
    next_cursor: str | None


class HolidayFilters(Schema):
    year: int | None = Field(None, ge=1, le=9999)

    LOOKUPS: ClassVar[dict[str, str]] = {"year": "date__year"}


class HolidayIn(BodyIn):
    date: IsoDate = Field(..., description="One holiday per date.")
    name: Text = Field("", max_length=120)


class HolidayPatchIn(PatchIn):
    date: IsoDate = unsent(description="One holiday per date.")
    name: Text = unsent(max_length=120)


@holidays_router.get(
    "",
    response=HolidayPage,
    summary="List holidays",
    description="The account's days off, which tasks planned from now on skip.",
)
def holiday_list(
    request: HttpRequest,
    filters: Query[HolidayFilters],
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    ordering: HolidayOrdering = "-date",
) -> dict[str, Any]:
    queryset = filtered(settings_holidays(settings_user(request)), filters)
    items, next_cursor = page(queryset, cursor=cursor, limit=limit, ordering=ordering)
    return {"items": items, "next_cursor": next_cursor}


@holidays_router.get("/{holiday_id}", response=HolidayOut, summary="One holiday")
def holiday_detail(request: HttpRequest, holiday_id: Id) -> Holiday:
    return settings_holidays(settings_user(request)).get(pk=holiday_id)


@holidays_router.post(
    "",
    response={201: HolidayOut},
    summary="Add a holiday",
    description="Tasks planned from now on skip it; tasks already planned keep their dates.",
)
def holiday_add(request: HttpRequest, payload: HolidayIn) -> Status[Holiday]:
    by = settings_user(request)
    return Status(201, holiday_save(by=by, holiday_id=None, date=payload.date, name=payload.name))


@holidays_router.patch(
    "/{holiday_id}", response=HolidayOut, summary="Change a holiday", description=PATCH_DESCRIPTION
)
def holiday_change(request: HttpRequest, holiday_id: Id, payload: HolidayPatchIn) -> Holiday:
    with transaction.atomic():
        by = settings_user(request)
        holiday = locked(settings_holidays(by).get(pk=holiday_id))
        data = {"date": holiday.date, "name": holiday.name, **fields_sent(payload)}
        return holiday_save(by=by, holiday_id=holiday.pk, date=data["date"], name=data["name"])


@holidays_router.delete(
    "/{holiday_id}",
    response={204: None},
    summary="Delete a holiday",
    description="The day is a working day again for tasks planned from now on.",
)
def holiday_remove(request: HttpRequest, holiday_id: Id) -> Status[None]:
    by = settings_user(request)
    holiday = settings_holidays(by).get(pk=holiday_id)
    holiday_delete(by=by, holiday_id=holiday.pk)
    return Status(204, None)
