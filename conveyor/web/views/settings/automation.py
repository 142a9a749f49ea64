"""Settings → cadences (templates of planned touches, with their steps) and automation rules
(a trigger in a pipeline runs an action)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from conveyor.automation.selectors import managed_rules
from conveyor.automation.services import rule_save
from conveyor.core.errors import ServiceError
from conveyor.touches import services
from conveyor.touches.models import Cadence, CadenceStep
from conveyor.touches.selectors import cadence_steps, settings_cadences
from conveyor.web.forms_settings import CadenceForm, CadenceStepForm, RuleForm
from conveyor.web.views.settings import form_page, record_or_404, settings_user


@login_required
def cadence_list(request: HttpRequest) -> HttpResponse:
    settings_user(request)
    return render(request, "web/settings/cadences.html", {"cadences": settings_cadences()})


@login_required
def cadence_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new cadence, or one's settings with its steps."""
    user = settings_user(request)
    cadence = record_or_404(Cadence.objects.all(), pk)

    def save(data: dict[str, Any]) -> Model:
        return services.cadence_save(
            by=user,
            cadence_id=pk,
            name=data["name"],
            description=data["description"],
            stages=list(data["stages"]),
            warming_per_closing=data["warming_per_closing"],
            is_default=data["is_default"],
        )

    context: dict[str, Any] = {
        "record": cadence,
        "title": cadence.name if cadence else _("New cadence"),
        "back": reverse("web:settings-cadences"),
    }
    if cadence is not None:
        context["steps"] = cadence_steps(cadence)
    return form_page(
        request,
        CadenceForm(request.POST or None, instance=cadence),
        save=save,
        saved=_("Cadence saved."),
        then=lambda record: reverse("web:settings-cadence", kwargs={"pk": record.pk}),
        template="web/settings/cadence.html",
        context=context,
    )


@login_required
def cadence_step_edit(
    request: HttpRequest, pk: int | None = None, cadence_pk: int | None = None
) -> HttpResponse:
    """A new step at the end of a cadence, or one step's day, kind, channel and script."""
    user = settings_user(request)
    step = record_or_404(CadenceStep.objects.select_related("cadence"), pk)
    cadence = step.cadence if step else record_or_404(Cadence.objects.all(), cadence_pk)
    assert cadence is not None

    def save(data: dict[str, Any]) -> Model:
        return services.cadence_step_save(
            by=user,
            cadence_id=cadence.pk,
            step_id=pk,
            position=data["position"],
            day_offset=data["day_offset"],
            kind=data["kind"],
            channel=data["channel"],
            script=data["script"],
        )

    back = reverse("web:settings-cadence", kwargs={"pk": cadence.pk})
    return form_page(
        request,
        CadenceStepForm(request.POST or None, instance=step),
        save=save,
        saved=_("Step saved."),
        template="web/settings/cadence_step.html",
        context={
            "record": step,
            "title": (
                _("%(cadence)s: step %(n)s") % {"cadence": cadence.name, "n": step.position}
                if step
                else _("New step of %(cadence)s") % {"cadence": cadence.name}
            ),
            "back": back,
        },
    )


@login_required
@require_POST
def cadence_step_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Take a step no task was planned from out of its cadence."""
    user = settings_user(request)
    step = record_or_404(CadenceStep.objects.all(), pk)
    assert step is not None
    try:
        services.cadence_step_remove(by=user, step_id=step.pk)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Step removed."))
    return redirect("web:settings-cadence", pk=step.cadence_id)


@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    user = settings_user(request)
    return render(request, "web/settings/rules.html", {"rules": managed_rules(user)})


@login_required
def rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new automation rule, or one's trigger, action and its parameters."""
    user = settings_user(request)
    rule = record_or_404(managed_rules(user), pk)
    form = RuleForm(request.POST or None, instance=rule, actor=user)

    def save(data: dict[str, Any]) -> Model:
        return rule_save(
            by=user,
            rule_id=pk,
            name=data["name"],
            pipeline=data["pipeline"],
            stage=data["stage"],
            trigger=data["trigger"],
            delay_days=data["delay_days"],
            action=data["action"],
            params=form.params(),
            is_active=data["is_active"],
            position=data["position"],
        )

    return form_page(
        request,
        form,
        save=save,
        saved=_("Rule saved."),
        template="web/settings/rule.html",
        context={
            "record": rule,
            "title": rule.name if rule else _("New automation rule"),
            "back": reverse("web:settings-rules"),
        },
    )
