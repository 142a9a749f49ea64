"""Writes on automation settings: the rules (`rule_save`) and the outgoing webhooks' endpoints
(`webhook_endpoint_save`, `webhook_secret_rotate`). What a rule does when it fires is the
engine's (engine.py); this checks that a rule can ever do it, so a head finds a mistake when
saving rather than in a log of skipped runs. E-mail templates are saved by
`conveyor.automation.mail.email_template_save`, next to their rendering."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import require_owner_access, require_settings_access
from conveyor.automation.models import (
    Action,
    AutomationRule,
    EmailTemplate,
    Trigger,
    WebhookEndpoint,
)
from conveyor.automation.webhooks import webhook_endpoint_clean
from conveyor.core.audit import audit_editing, audit_record, audit_saved
from conveyor.core.db import clean_and_save, locked_or_refuse
from conveyor.core.errors import ServiceError
from conveyor.core.models import AuditAction
from conveyor.pipelines.models import Pipeline, Stage
from conveyor.touches.models import Cadence, Channel, TouchKind

# Triggers about a closed deal, and the actions that only work on an open one (the engine
# skips them with "the deal is no longer open").
CLOSED_TRIGGERS = frozenset({Trigger.DEAL_WON, Trigger.DEAL_LOST})
OPEN_DEAL_ACTIONS = frozenset(
    {Action.CREATE_TASK, Action.START_CADENCE, Action.MOVE_TO_PIPELINE, Action.ASSIGN_OWNER}
)
MAX_DUE_IN_DAYS = 365


def _pk(params: Mapping[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _record(params: Mapping[str, Any], name: str, model: type[Any], message: str) -> Any:
    """The record a parameter names, or a refusal on that parameter."""
    pk = _pk(params, name)
    found = model._default_manager.filter(pk=pk).first() if pk is not None else None
    if found is None:
        raise ServiceError(message, field=name)
    return found


def rule_params_clean(
    *, action: str, params: Mapping[str, Any], pipeline: Pipeline, by: User | None
) -> dict[str, Any]:
    """The parameters `action` reads (engine.py), checked and reduced to plain ids and values;
    anything else given is dropped."""
    if action == Action.CREATE_TASK:
        title = str(params.get("title") or "").strip()
        kind = str(params.get("kind") or TouchKind.WARMING)
        channel = str(params.get("channel") or Channel.CALL)
        if len(title) > 200:
            raise ServiceError(
                _("The task title is too long (200 characters at most)."), field="title"
            )
        if kind not in TouchKind.values:
            raise ServiceError(_("Choose warming or closing."), field="kind")
        if channel not in Channel.values:
            raise ServiceError(_("Choose a channel."), field="channel")
        days = _pk(params, "due_in_days") or 0
        if not 0 <= days <= MAX_DUE_IN_DAYS:
            raise ServiceError(
                _("Due in 0 to %(n)s working days.") % {"n": MAX_DUE_IN_DAYS},
                field="due_in_days",
            )
        return {"title": title, "kind": kind, "channel": channel, "due_in_days": days}
    if action == Action.START_CADENCE:
        cadence = _record(params, "cadence_id", Cadence, _("Choose the cadence to start."))
        if not cadence.steps.exists():
            raise ServiceError(_("This cadence has no steps yet."), field="cadence_id")
        return {"cadence_id": cadence.pk}
    if action in (Action.MOVE_TO_PIPELINE, Action.COPY_TO_PIPELINE):
        target = _record(params, "pipeline_id", Pipeline, _("Choose the pipeline."))
        if action == Action.MOVE_TO_PIPELINE and target.pk == pipeline.pk:
            raise ServiceError(
                _("A deal cannot be moved into the pipeline it is in."), field="pipeline_id"
            )
        if not target.is_active:
            raise ServiceError(_("This pipeline is closed for new deals."), field="pipeline_id")
        cleaned: dict[str, Any] = {"pipeline_id": target.pk}
        if _pk(params, "stage_id") is not None:
            stage = _record(params, "stage_id", Stage, _("Choose a stage of that pipeline."))
            if stage.pipeline_id != target.pk or stage.is_archived:
                raise ServiceError(_("Choose an open stage of that pipeline."), field="stage_id")
            cleaned["stage_id"] = stage.pk
        return cleaned
    if action == Action.ASSIGN_OWNER:
        owner = _record(params, "user_id", User, _("Choose who gets the deal."))
        if not owner.is_active:
            raise ServiceError(_("This user is deactivated."), field="user_id")
        if by is not None:
            require_owner_access(by, owner)
        return {"user_id": owner.pk}
    if action == Action.SEND_EMAIL:
        template = _record(params, "template_id", EmailTemplate, _("Choose the e-mail template."))
        # As the settings screen offers only active ones: a switched-off one is never sent.
        if not template.is_active:
            raise ServiceError(_("This template is switched off."), field="template_id")
        return {"template_id": template.pk}
    if action == Action.CALL_WEBHOOK:
        endpoint = _record(params, "endpoint_id", WebhookEndpoint, _("Choose the webhook."))
        if not endpoint.is_active:
            raise ServiceError(_("This webhook is switched off."), field="endpoint_id")
        return {"endpoint_id": endpoint.pk}
    raise ServiceError(_("Choose what the rule does."), field="action")


@transaction.atomic
def rule_save(
    *,
    by: User | None,
    rule_id: int | None,
    name: str,
    pipeline: Pipeline,
    stage: Stage | None,
    trigger: str,
    delay_days: int,
    action: str,
    params: Mapping[str, Any],
    is_active: bool,
    position: int,
) -> AutomationRule:
    """Create an automation rule (`rule_id` None) or change it (owners and heads; `by` None is
    the server operator). A rule is refused when the engine could never run it: a stage of
    another pipeline, a stage on "lead received" (leads have none), "no touch" without days,
    an action needing an open deal on a won or lost one, parameters naming nothing.
    Switching a rule off keeps its runs; runs already queued still check the rule's data."""
    require_settings_access(by, _("Only owners and heads of sales change automation rules."))
    rule, before = audit_editing(
        AutomationRule, rule_id, _("This rule does not exist."), field="rule"
    )
    if stage is not None and stage.pipeline_id != pipeline.pk:
        raise ServiceError(_("This stage belongs to another pipeline."), field="stage")
    if stage is not None and trigger == Trigger.LEAD_RECEIVED:
        raise ServiceError(
            _("A lead has no stage: leave the stage empty for “lead received”."), field="stage"
        )
    if trigger == Trigger.NO_TOUCH and delay_days < 1:
        raise ServiceError(_("Say after how many days without a touch."), field="delay_days")
    if trigger in CLOSED_TRIGGERS and action in OPEN_DEAL_ACTIONS:
        raise ServiceError(
            _("A won or lost deal is closed, and this action needs an open one."),
            field="action",
        )
    rule.name = name.strip()
    rule.pipeline = pipeline
    rule.stage = stage
    rule.trigger = trigger
    rule.delay_days = delay_days
    rule.action = action
    rule.params = rule_params_clean(action=action, params=params, pipeline=pipeline, by=by)
    rule.is_active = is_active
    rule.position = position
    clean_and_save(rule)
    audit_saved(actor=by, instance=rule, before=before)
    return rule


@transaction.atomic
def webhook_endpoint_save(
    *,
    by: User | None,
    endpoint_id: int | None,
    name: str,
    url: str,
    events: Sequence[str],
    is_active: bool,
) -> WebhookEndpoint:
    """Register an endpoint (`endpoint_id` None), with a random signing secret read from the
    returned endpoint, or change its name, address, events and whether it is called (owners
    and heads; `by` None is the server operator). The URL goes through the SSRF guard
    (`webhooks.url_check`) now and again on every delivery; `events` are WebhookEvent values,
    none = every event. The secret never changes here: see `webhook_secret_rotate`."""
    require_settings_access(by, _("Only owners and heads of sales may set up webhooks."))
    endpoint, before = audit_editing(
        WebhookEndpoint, endpoint_id, _("This webhook does not exist."), field="endpoint"
    )
    # An existing secret is passed through unchanged, so it is not checked against today's
    # length rule (an older, shorter one keeps working until it is rotated).
    endpoint.name, endpoint.url, endpoint.events, secret = webhook_endpoint_clean(
        name=name, url=url, events=events, secret=None
    )
    if endpoint.pk is None:
        endpoint.secret = secret
    endpoint.is_active = is_active
    clean_and_save(endpoint)
    audit_saved(actor=by, instance=endpoint, before=before)
    return endpoint


@transaction.atomic
def webhook_secret_rotate(*, by: User | None, endpoint_id: int) -> WebhookEndpoint:
    """Give the endpoint a new random signing secret, read from the returned endpoint (owners
    and heads). Requests from now on are signed with it, retries of older deliveries too, so
    the receiver must be given the new one. The log says it changed, never what it is."""
    require_settings_access(by, _("Only owners and heads of sales may set up webhooks."))
    endpoint = locked_or_refuse(
        WebhookEndpoint, endpoint_id, _("This webhook does not exist."), field="endpoint"
    )
    endpoint.secret = secrets.token_urlsafe(32)
    endpoint.save(update_fields=["secret"])
    audit_record(actor=by, instance=endpoint, action=AuditAction.UPDATE, changes={"secret": None})
    return endpoint
