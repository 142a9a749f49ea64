"""Settings → qualification and routing: each segment's qualifying questions (with the points
their answers score) and the rules that route incoming leads to a pipeline and an owner."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from conveyor.intake import services
from conveyor.intake.models import QualificationQuestion, RoutingRule
from conveyor.intake.selectors import settings_questions, settings_routing_rules
from conveyor.web.forms_settings import QuestionForm, RoutingRuleForm
from conveyor.web.views.settings import form_page, record_or_404, settings_user


@login_required
def question_list(request: HttpRequest) -> HttpResponse:
    settings_user(request)
    return render(request, "web/settings/questions.html", {"questions": settings_questions()})


@login_required
def question_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new qualifying question, or one's text, kind, answers and points."""
    user = settings_user(request)
    question = record_or_404(QualificationQuestion.objects.select_related("segment"), pk)

    def save(data: dict[str, Any]) -> Model:
        return services.question_save(
            by=user,
            question_id=pk,
            segment=data["segment"],
            position=data["position"],
            text=data["text"],
            kind=data["kind"],
            options=data["options"],
            scoring=data["scoring"],
            is_required=data["is_required"],
        )

    return form_page(
        request,
        QuestionForm(request.POST or None, instance=question),
        save=save,
        saved=_("Question saved."),
        context={
            "record": question,
            "title": question.text if question else _("New qualifying question"),
            "back": reverse("web:settings-questions"),
        },
    )


@login_required
def routing_list(request: HttpRequest) -> HttpResponse:
    settings_user(request)
    return render(request, "web/settings/routing.html", {"rules": settings_routing_rules()})


@login_required
def routing_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new routing rule, or one's conditions, pipeline and owner."""
    user = settings_user(request)
    rule = record_or_404(RoutingRule.objects.all(), pk)

    def save(data: dict[str, Any]) -> Model:
        return services.routing_rule_save(
            by=user,
            rule_id=pk,
            name=data["name"],
            position=data["position"],
            is_active=data["is_active"],
            segment=data["segment"],
            form=data["form"],
            source=data["source"],
            min_score=data["min_score"],
            question=data["question"],
            answer=data["answer"],
            pipeline=data["pipeline"],
            owner_strategy=data["owner_strategy"],
            team=data["team"],
            fixed_owner=data["fixed_owner"],
            auto_accept=data["auto_accept"],
        )

    return form_page(
        request,
        RoutingRuleForm(request.POST or None, instance=rule, actor=user),
        save=save,
        saved=_("Routing rule saved."),
        context={
            "record": rule,
            "title": rule.name if rule else _("New routing rule"),
            "back": reverse("web:settings-routing"),
        },
    )
