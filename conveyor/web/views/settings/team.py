"""Settings → the sales team and its numbers: users (a head of sales manages the managers of
the teams they head), teams, sales plans and expenses."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from conveyor.accounts import services
from conveyor.accounts.selectors import managed_plans, managed_teams, managed_users
from conveyor.analytics.models import Expense
from conveyor.analytics.selectors import settings_expenses
from conveyor.analytics.services import expense_save
from conveyor.web.forms_settings import ExpenseForm, SalesPlanForm, TeamForm, UserForm
from conveyor.web.views.settings import form_page, record_or_404, settings_user


@login_required
def user_list(request: HttpRequest) -> HttpResponse:
    user = settings_user(request)
    return render(request, "web/settings/users.html", {"users": managed_users(user)})


@login_required
def user_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new user, or one's profile, role, team and access; a head of sales sees only the
    managers of the teams they head (and themselves), anyone else is a 404."""
    user = settings_user(request)
    person = record_or_404(managed_users(user), pk)

    def save(data: dict[str, Any]) -> Model:
        return services.user_save(
            by=user,
            user_id=pk,
            email=data["email"],
            name=data["name"],
            role=data["role"],
            team=data["team"],
            capacity=data["capacity"],
            language=data["language"],
            is_active=data["is_active"],
            password=data["password"],
        )

    return form_page(
        request,
        UserForm(request.POST or None, instance=person, actor=user),
        save=save,
        saved=_("User saved."),
        context={
            "record": person,
            "title": person.get_full_name() if person else _("New user"),
            "back": reverse("web:settings-users"),
        },
    )


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    user = settings_user(request)
    return render(request, "web/settings/teams.html", {"teams": managed_teams(user)})


@login_required
def team_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new team, or one's name and head (a head of sales: only teams they head)."""
    user = settings_user(request)
    team = record_or_404(managed_teams(user), pk)

    def save(data: dict[str, Any]) -> Model:
        return services.team_save(by=user, team_id=pk, name=data["name"], head=data["head"])

    return form_page(
        request,
        TeamForm(request.POST or None, instance=team, actor=user),
        save=save,
        saved=_("Team saved."),
        context={
            "record": team,
            "title": team.name if team else _("New team"),
            "back": reverse("web:settings-teams"),
        },
    )


@login_required
def plan_list(request: HttpRequest) -> HttpResponse:
    user = settings_user(request)
    return render(request, "web/settings/plans.html", {"plans": managed_plans(user)})


@login_required
def plan_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new monthly plan for a user or a team, or one's targets."""
    user = settings_user(request)
    plan = record_or_404(managed_plans(user), pk)

    def save(data: dict[str, Any]) -> Model:
        return services.sales_plan_save(
            by=user,
            plan_id=pk,
            user=data["user"],
            team=data["team"],
            month=data["month"],
            revenue=data["revenue"],
            deals=data["deals"],
        )

    return form_page(
        request,
        SalesPlanForm(request.POST or None, instance=plan, actor=user),
        save=save,
        saved=_("Sales plan saved."),
        context={
            "record": plan,
            "title": str(plan) if plan else _("New sales plan"),
            "back": reverse("web:settings-plans"),
        },
    )


@login_required
def expense_list(request: HttpRequest) -> HttpResponse:
    settings_user(request)
    return render(request, "web/settings/expenses.html", {"expenses": settings_expenses()})


@login_required
def expense_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new expense of a channel over a period, or one's figures."""
    user = settings_user(request)
    expense = record_or_404(Expense.objects.all(), pk)

    def save(data: dict[str, Any]) -> Model:
        return expense_save(
            by=user,
            expense_id=pk,
            channel=data["channel"],
            period_start=data["period_start"],
            period_end=data["period_end"],
            amount=data["amount"],
            note=data["note"],
        )

    return form_page(
        request,
        ExpenseForm(request.POST or None, instance=expense),
        save=save,
        saved=_("Expense saved."),
        context={
            "record": expense,
            "title": str(expense) if expense else _("New expense"),
            "back": reverse("web:settings-expenses"),
        },
    )
