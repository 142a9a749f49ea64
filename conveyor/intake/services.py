"""Writes on leads: receive (from any channel), qualify, route, accept, merge, reject as spam.

Every incoming lead lands in the inbox unless a routing rule accepts it automatically. A lead
whose normalised phone or e-mail matches an existing person is linked to that person on intake,
so accepting it reuses the person instead of recording a duplicate. The inbox is shared intake:
any active user may act on an inbox lead, but the deal opened on acceptance must be owned by
someone the actor may assign.

Receiving a lead (one creation entry, whatever the channel: who sent it in, or nobody for a
public form or a mailbox, with the channel among its values), accepting, merging and rejecting
it, and the settings (web forms, qualifying questions, routing rules), are audited
(`conveyor.core.audit`) in the same transaction; routing is not (the lead itself records where
routing proposed it, and an automatic acceptance is audited as an acceptance by the system).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from conveyor.accounts.models import Team, User
from conveyor.accounts.permissions import (
    can_manage_team,
    can_manage_users_of,
    require_owner_access,
    require_settings_access,
    scope,
)
from conveyor.core import ratelimit
from conveyor.core.audit import audit_editing, audit_record, audit_saved, audit_snapshot
from conveyor.core.db import clean_and_save, locked_or_refuse, next_position
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.models import AuditAction
from conveyor.intake import selectors
from conveyor.intake.models import (
    FORM_FIELDS,
    Lead,
    LeadChannel,
    LeadForm,
    LeadStatus,
    OwnerStrategy,
    QualificationQuestion,
    QuestionKind,
    RoutingRule,
)
from conveyor.intake.qualification import answer_matches, score_answers
from conveyor.intake.signals import lead_received
from conveyor.people.models import Person, Temperature
from conveyor.people.privacy import ContactSuppressed, require_not_suppressed
from conveyor.people.services import contacts_clean, person_create
from conveyor.pipelines.models import Deal, Pipeline, Process, Segment
from conveyor.pipelines.services import deal_open

logger = logging.getLogger(__name__)


def matching_person(*, phone: str, email: str) -> Person | None:
    """The earliest person with this normalised phone or e-mail, if any."""
    match = Q(pk__in=[])
    if phone:
        match |= Q(phone=phone)
    if email:
        match |= Q(email=email)
    return Person.objects.filter(match).order_by("pk").first()


@transaction.atomic
def lead_receive(
    *,
    channel: str,
    name: str,
    phone: str = "",
    email: str = "",
    source: str = "",
    segment: Segment | None = None,
    payload: dict[str, Any] | None = None,
    utm: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    received_at: dt.datetime | None = None,
    note: str = "",
    form: LeadForm | None = None,
    is_suspected_spam: bool = False,
    answers: Mapping[str, Any] | None = None,
    by: User | None = None,
    audit_note: str = "",
) -> Lead:
    """Record an incoming lead in the inbox; an idempotency key already seen returns that lead.

    `by` is who sent it in, for the audit log (the API token's user, the user typing it in);
    None for the public channels (web forms, mail), whose entry the system makes. `audit_note`
    says more on the entry (which API token).

    A suspected-spam lead is recorded like any other, only marked, so a person can still look.
    `answers` (to the segment's qualifying questions, keyed by question id) are scored first;
    invalid ones refuse the lead (QualificationError). Then the lead is routed (`lead_route`).
    """
    if idempotency_key:
        earlier = Lead.objects.filter(idempotency_key=idempotency_key).first()
        if earlier is not None:
            return earlier
    if channel not in LeadChannel.values:
        raise ServiceError(
            _("'%(value)s' is not a valid channel.") % {"value": channel}, field="channel"
        )
    name = name.strip()
    if not name:
        raise ServiceError(_("Enter the lead's name."), field="name")
    email, phone = contacts_clean(email=email, phone=phone, missing_field="phone")
    # An erased person's contacts are never recorded again (ContactSuppressed names the field).
    require_not_suppressed(email=email, phone=phone)
    if received_at is None:
        received_at = timezone.now()
    elif timezone.is_naive(received_at):
        raise ServiceError(_("Times must carry a time zone."), field="received_at")
    payload = dict(payload or {})
    if note.strip():
        payload["note"] = note.strip()
    lead = Lead(
        channel=channel,
        name=name,
        phone=phone,
        email=email,
        source=source.strip(),
        segment=segment,
        payload=payload,
        utm=dict(utm or {}),
        idempotency_key=idempotency_key or None,
        received_at=received_at,
        form=form,
        is_suspected_spam=is_suspected_spam,
        person=matching_person(phone=phone, email=email),
    )
    try:
        with transaction.atomic():
            lead.save()
            # One INSERT per lead (intake speed is benchmarked): the values it came with,
            # the personal ones marked changed but not kept.
            audit_record(actor=by, instance=lead, action=AuditAction.CREATE, note=audit_note)
    except IntegrityError:
        # The same key arrived concurrently and the other request won: return its lead.
        earlier = Lead.objects.filter(idempotency_key=idempotency_key).first()
        if earlier is None or not idempotency_key:
            raise
        return earlier
    if answers:
        lead = lead_qualify(lead_id=lead.pk, answers=answers, by=by)
    _route_safely(lead)
    lead.refresh_from_db()
    lead_received.send(sender=Lead, lead=lead)
    return lead


def _route_safely(lead: Lead) -> None:
    """Route a just-received lead; whatever goes wrong, the lead stays, with the reason noted."""
    if lead.is_suspected_spam:
        # A person looks at suspected spam first; it is never handed out or accepted by a rule.
        note = _("Suspected spam: not routed.")
        Lead.objects.filter(pk=lead.pk).update(routing_note=note)
        return
    try:
        with transaction.atomic():
            lead_route(lead_id=lead.pk)
    except ServiceError as error:
        note = _("Not routed: %(reason)s") % {"reason": error.message}
        Lead.objects.filter(pk=lead.pk).update(routing_note=note[:255])
    except Exception:
        # Deliberately broad: a broken rule or a bug in routing must never lose the lead.
        logger.exception("routing lead %s failed", lead.pk)
        note = _("Not routed: routing failed, see the server log.")
        Lead.objects.filter(pk=lead.pk).update(routing_note=note)


def _check_actor(by: User | None) -> None:
    if by is not None and not by.is_active:
        raise PermissionDenied(_("You do not have access to this record."))


def _lock_inbox_lead(lead_id: int, by: User | None) -> Lead:
    """Lock the lead; refuse unless it is still in the inbox."""
    _check_actor(by)
    try:
        lead = Lead.objects.select_for_update().get(pk=lead_id)
    except Lead.DoesNotExist as exc:
        raise ServiceError(_("This lead does not exist."), field="lead") from exc
    if lead.status != LeadStatus.INBOX:
        raise ServiceError(
            _("This lead is no longer in the inbox (it is %(status)s).")
            % {"status": lead.get_status_display()},
            field="lead",
        )
    return lead


def conversion_pipeline(segment: Segment | None) -> Pipeline | None:
    """The active conversion pipeline of `segment` (the first by name), if there is one."""
    if segment is None:
        return None
    return (
        Pipeline.objects.filter(segment=segment, process=Process.CONVERSION, is_active=True)
        .order_by("name", "pk")
        .first()
    )


@transaction.atomic
def lead_accept(
    *,
    lead_id: int,
    by: User | None,
    pipeline: Pipeline | None = None,
    owner: User | None = None,
) -> Deal:
    """Accept an inbox lead: reuse (or create) its person and open a deal at the first stage.

    The pipeline is the given one, else the one routing proposed, else the conversion pipeline
    of the lead's segment; the owner is the given user, else the one routing proposed, else the
    accepting user. The actor must be allowed to assign the owner either way.
    """
    lead = _lock_inbox_lead(lead_id, by)
    if owner is None:
        owner = lead.routed_owner if lead.routed_owner_id is not None else by
    if by is not None:
        require_owner_access(by, owner)
    if pipeline is None and lead.routed_pipeline_id is not None:
        pipeline = lead.routed_pipeline
    if pipeline is None:
        pipeline = conversion_pipeline(lead.segment)
        if pipeline is None:
            raise ServiceError(
                _("The lead's segment has no conversion pipeline: choose a pipeline."),
                field="pipeline",
            )
    person = lead.person or matching_person(phone=lead.phone, email=lead.email)
    if person is None:
        person = person_create(
            name=lead.name,
            by=by,
            owner=owner,
            email=lead.email,
            phone=lead.phone,
            source=lead.source or lead.channel,
        )
    deal = deal_open(person=person, pipeline=pipeline, owner=owner, by=by)
    before = audit_snapshot(lead)
    lead.person = person
    lead.deal = deal
    lead.status = LeadStatus.ACCEPTED
    lead.save(update_fields=["person", "deal", "status"])
    audit_record(actor=by, instance=lead, action=AuditAction.ACCEPT, before=before)
    return deal


@transaction.atomic
def lead_merge(*, lead_id: int, person_id: int, by: User | None) -> Lead:
    """Record an inbox lead as a repeat request of an existing person; no deal is opened."""
    lead = _lock_inbox_lead(lead_id, by)
    # Only people the actor may see: an invisible person reads as missing, like everywhere.
    people = Person.objects.all() if by is None else scope(Person.objects.all(), by)
    person = people.filter(pk=person_id).first()
    if person is None:
        raise ServiceError(_("This person does not exist."), field="person")
    before = audit_snapshot(lead)
    lead.person = person
    lead.status = LeadStatus.MERGED
    lead.save(update_fields=["person", "status"])
    audit_record(actor=by, instance=lead, action=AuditAction.MERGE, before=before)
    return lead


@transaction.atomic
def lead_reject_spam(*, lead_id: int, by: User | None) -> Lead:
    """Mark an inbox lead as spam. It is kept (never deleted), just out of the inbox."""
    lead = _lock_inbox_lead(lead_id, by)
    before = audit_snapshot(lead)
    lead.status = LeadStatus.REJECTED_SPAM
    lead.save(update_fields=["status"])
    audit_record(actor=by, instance=lead, action=AuditAction.REJECT, before=before)
    return lead


@dataclass(frozen=True)
class BulkResult:
    """What happened to one lead of a bulk action: done (with the deal, if any) or refused."""

    lead_id: int
    ok: bool
    message: str = ""
    deal_id: int | None = None


def lead_accept_bulk(
    *,
    lead_ids: list[int],
    by: User | None,
    pipeline: Pipeline | None = None,
    owner: User | None = None,
) -> list[BulkResult]:
    """Accept each lead in its own transaction: one refusal does not undo the others."""
    results = []
    for lead_id in lead_ids:
        try:
            deal = lead_accept(lead_id=lead_id, by=by, pipeline=pipeline, owner=owner)
        except ServiceError as error:
            results.append(BulkResult(lead_id=lead_id, ok=False, message=error.message))
        else:
            results.append(BulkResult(lead_id=lead_id, ok=True, deal_id=deal.pk))
    return results


def lead_reject_spam_bulk(*, lead_ids: list[int], by: User | None) -> list[BulkResult]:
    """Reject each lead as spam in its own transaction; report per lead."""
    results = []
    for lead_id in lead_ids:
        try:
            lead_reject_spam(lead_id=lead_id, by=by)
        except ServiceError as error:
            results.append(BulkResult(lead_id=lead_id, ok=False, message=error.message))
        else:
            results.append(BulkResult(lead_id=lead_id, ok=True))
    return results


@transaction.atomic
def _lead_merge_into_known(*, lead_id: int, by: User | None) -> Lead:
    """Merge an inbox lead into the person intake linked it to (same phone or e-mail)."""
    lead = _lock_inbox_lead(lead_id, by)
    if lead.person_id is None:
        # Guessing a person by name would merge strangers; a person has to choose one.
        raise ServiceError(
            _("No known person to merge into: merge this lead by hand."), field="person"
        )
    return lead_merge(lead_id=lead.pk, person_id=lead.person_id, by=by)


def lead_merge_bulk(
    *, lead_ids: list[int], by: User | None, person_id: int | None = None
) -> list[BulkResult]:
    """Merge each lead in its own transaction: into `person_id` when given, else into the
    person intake linked it to. A lead with no such person, or whose person the actor may not
    see (it reads as missing), is refused and left untouched; the others still go through."""
    results = []
    for lead_id in lead_ids:
        try:
            if person_id is None:
                _lead_merge_into_known(lead_id=lead_id, by=by)
            else:
                lead_merge(lead_id=lead_id, person_id=person_id, by=by)
        except ServiceError as error:
            results.append(BulkResult(lead_id=lead_id, ok=False, message=error.message))
        else:
            results.append(BulkResult(lead_id=lead_id, ok=True))
    return results


# --- Qualification and routing ---------------------------------------------------------------


class QualificationError(ServiceError):
    """Some answers are invalid; `errors` maps each question id (a string) to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        first = next(iter(errors))
        super().__init__(errors[first], field=f"q_{first}")
        self.errors = errors


TEMPERATURE_ORDER: dict[str, int] = {
    Temperature.COLD.value: 0,
    Temperature.WARM.value: 1,
    Temperature.HOT.value: 2,
}


@transaction.atomic
def lead_qualify(*, lead_id: int, answers: Mapping[str, Any], by: User | None) -> Lead:
    """Score the answers against the lead's segment's questions; store answers, score and
    temperature on the lead (and warm its person up to that temperature).

    Answers replace earlier ones. Invalid answers raise QualificationError and change nothing.
    """
    _check_actor(by)
    try:
        lead = Lead.objects.select_for_update().get(pk=lead_id)
    except Lead.DoesNotExist as exc:
        raise ServiceError(_("This lead does not exist."), field="lead") from exc
    if lead.segment_id is None:
        raise ServiceError(
            _("The lead has no segment, so there are no questions to answer."), field="segment"
        )
    questions = list(QualificationQuestion.objects.filter(segment_id=lead.segment_id))
    score = score_answers(questions, answers)
    if score.errors:
        raise QualificationError(score.errors)
    lead.payload = {**(lead.payload or {}), "answers": score.answers}
    lead.score = score.points
    lead.temperature = score.temperature
    lead.save(update_fields=["payload", "score", "temperature"])
    if lead.person_id is not None:
        # Only ever raise it: a form's answers should not cool down a customer the team
        # already knows to be hot.
        person = Person.objects.select_for_update().get(pk=lead.person_id)
        if TEMPERATURE_ORDER.get(score.temperature, 0) > TEMPERATURE_ORDER.get(
            person.temperature, 0
        ):
            before = audit_snapshot(person)
            person.temperature = score.temperature
            person.save(update_fields=["temperature"])
            audit_record(actor=by, instance=person, action=AuditAction.UPDATE, before=before)
    return lead


@transaction.atomic
def owner_pick(*, rule: RoutingRule) -> User | None:
    """The owner the rule gives the next lead, or None when everyone it may pick is full.

    Round robin goes through the team's active managers by id, after the last one picked;
    least-open picks whoever owns the fewest open deals (ties by id); fixed is the rule's
    manager. Anyone whose open deals reach their capacity is skipped. The rule row is locked
    so concurrent picks take turns instead of handing out the same one.
    """
    locked = RoutingRule.objects.select_for_update().get(pk=rule.pk)
    if locked.owner_strategy == OwnerStrategy.FIXED:
        if locked.fixed_owner_id is None:
            return None
        owners = selectors.with_open_deals(
            User.objects.filter(pk=locked.fixed_owner_id, is_active=True)
        )
        candidates = list(owners)
    else:
        if locked.team_id is None:
            return None
        candidates = selectors.team_managers(locked.team_id)
    free = [user for user in candidates if user.open_deals < user.capacity]  # type: ignore[attr-defined]
    if not free:
        return None
    if locked.owner_strategy == OwnerStrategy.LEAST_OPEN:
        picked = min(free, key=lambda user: (user.open_deals, user.pk))  # type: ignore[attr-defined]
    elif locked.owner_strategy == OwnerStrategy.ROUND_ROBIN and locked.last_assigned_id:
        after = [user for user in free if user.pk > locked.last_assigned_id]
        picked = after[0] if after else free[0]
    else:
        picked = free[0]
    locked.last_assigned = picked
    locked.save(update_fields=["last_assigned"])
    rule.last_assigned = picked
    return picked


def rule_matches(rule: RoutingRule, lead: Lead) -> bool:
    """Do all of the rule's conditions hold for the lead? (An empty condition always holds.)"""
    if rule.segment_id is not None and rule.segment_id != lead.segment_id:
        return False
    if rule.form_id is not None and rule.form_id != lead.form_id:
        return False
    if rule.source and rule.source.strip().casefold() != lead.source.strip().casefold():
        return False
    if rule.min_score is not None and lead.score < rule.min_score:
        return False
    if rule.question_id is not None:
        answers = (lead.payload or {}).get("answers") or {}
        if not answer_matches(answers.get(str(rule.question_id)), rule.answer):
            return False
    return True


@dataclass(frozen=True)
class RouteResult:
    """What routing did: the rule that matched (if any), the proposed pipeline and owner, the
    deal when the rule accepted the lead, and a note saying why (also kept on the lead)."""

    lead: Lead
    rule: RoutingRule | None = None
    pipeline: Pipeline | None = None
    owner: User | None = None
    deal: Deal | None = None
    note: str = ""

    @property
    def accepted(self) -> bool:
        return self.deal is not None


@transaction.atomic
def lead_route(*, lead_id: int) -> RouteResult:
    """Apply the first active matching rule (by position) to an inbox lead.

    The lead gets the rule's pipeline and a picked owner as a proposal, or, when the rule says
    so, is accepted into that pipeline at once. When nobody can take it (everyone at capacity)
    or nothing matches, it stays in the inbox with `routing_note` saying why.
    """
    lead = _lock_inbox_lead(lead_id, None)
    rule = next((r for r in selectors.routing_rules(lead) if rule_matches(r, lead)), None)
    if rule is None:
        return _route_note(lead, _("No routing rule matches."))
    pipeline = rule.pipeline
    if not pipeline.is_active or pipeline.process != Process.CONVERSION:
        return _route_note(
            lead,
            _("Rule “%(rule)s”: its pipeline is not an active conversion pipeline.")
            % {"rule": rule.name},
            rule=rule,
        )
    owner = owner_pick(rule=rule)
    if owner is None:
        return _route_note(
            lead,
            _("Rule “%(rule)s”: everyone it may assign is at capacity.") % {"rule": rule.name},
            rule=rule,
            pipeline=pipeline,
        )
    if rule.auto_accept:
        deal = lead_accept(lead_id=lead.pk, by=None, pipeline=pipeline, owner=owner)
        note = _("Accepted by rule “%(rule)s”.") % {"rule": rule.name}
        lead.refresh_from_db()
        return _route_note(lead, note, rule=rule, pipeline=pipeline, owner=owner, deal=deal)
    note = _("Routed by rule “%(rule)s”.") % {"rule": rule.name}
    return _route_note(lead, note, rule=rule, pipeline=pipeline, owner=owner)


def _route_note(
    lead: Lead,
    note: str,
    *,
    rule: RoutingRule | None = None,
    pipeline: Pipeline | None = None,
    owner: User | None = None,
    deal: Deal | None = None,
) -> RouteResult:
    lead.routed_pipeline = pipeline
    lead.routed_owner = owner
    lead.routing_note = note[:255]
    lead.save(update_fields=["routed_pipeline", "routed_owner", "routing_note"])
    return RouteResult(
        lead=lead, rule=rule, pipeline=pipeline, owner=owner, deal=deal, note=lead.routing_note
    )


# --- Web-to-lead forms -----------------------------------------------------------------------

FORM_TOKEN_SALT = "conveyor.intake.form-ts"  # noqa: S105 - a signing namespace, not a secret
HONEYPOT_FIELD = "website"
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
FIELD_MAX_LENGTH = {"name": 200, "phone": 32, "email": 254, "company": 200, "message": 5000}
IDEMPOTENCY_KEY_MAX_LENGTH = 80


class FormNotFound(ServiceError):
    """No active form has this key: the public endpoint answers 404."""


def _clean_form_fields(fields: list[Any] | None) -> list[dict[str, Any]]:
    """Normalise `fields` (dicts, or bare names meaning "shown, optional"); refuse nonsense."""
    if fields is None:
        return LeadForm().shown_fields()
    cleaned: list[dict[str, Any]] = []
    for item in fields:
        spec = {"name": item, "required": False} if isinstance(item, str) else item
        name = spec.get("name") if isinstance(spec, dict) else None
        if name not in FORM_FIELDS:
            raise ServiceError(
                _("'%(value)s' is not a field a form can show.") % {"value": name}, field="fields"
            )
        if any(f["name"] == name for f in cleaned):
            continue
        cleaned.append({"name": name, "required": name == "name" or bool(spec.get("required"))})
    if not any(f["name"] == "name" for f in cleaned):
        cleaned.insert(0, {"name": "name", "required": True})
    if not any(f["name"] in ("phone", "email") for f in cleaned):
        raise ServiceError(_("A form must show a phone or an e-mail field."), field="fields")
    return cleaned


def _clean_form_settings(
    *,
    name: str,
    segment: Segment | None,
    pipeline: Pipeline | None,
    redirect_url: str,
    min_fill_seconds: int,
    current_pipeline_id: int | None = None,
) -> tuple[str, str]:
    """The name and redirect address, trimmed; refuse what a form may not have (per field).
    A switched-off pipeline takes no new deals, so no form may start sending it leads (one
    that already did keeps it until changed: switching a pipeline off leaves its forms be)."""
    if pipeline is not None and not pipeline.is_active and pipeline.pk != current_pipeline_id:
        raise ServiceError(_("This pipeline is closed for new deals."), field="pipeline")
    name = name.strip()
    if not name:
        raise ServiceError(_("Enter the form's name."), field="name")
    if len(name) > 200:
        raise ServiceError(_("The name is too long (200 characters at most)."), field="name")
    if segment is not None and pipeline is not None and pipeline.segment_id != segment.pk:
        raise ServiceError(_("This pipeline belongs to another segment."), field="pipeline")
    redirect_url = redirect_url.strip()
    if redirect_url:
        try:
            URLValidator(schemes=["http", "https"])(redirect_url)
        except ValidationError:
            raise ServiceError(
                _("Enter a web address starting with http:// or https://."), field="redirect_url"
            ) from None
    if min_fill_seconds < 0 or min_fill_seconds > 600:
        raise ServiceError(
            _("The minimum fill time must be between 0 and 600 seconds."),
            field="min_fill_seconds",
        )
    return name, redirect_url


@transaction.atomic
def form_create(
    *,
    name: str,
    by: User | None,
    segment: Segment | None = None,
    pipeline: Pipeline | None = None,
    fields: list[Any] | None = None,
    thank_you_text: str = "",
    redirect_url: str = "",
    min_fill_seconds: int = 3,
) -> LeadForm:
    """Create a web-to-lead form (owners and heads; `by=None` is the server operator)."""
    require_settings_access(by, _("Only owners and heads of sales may create web forms."))
    name, redirect_url = _clean_form_settings(
        name=name,
        segment=segment,
        pipeline=pipeline,
        redirect_url=redirect_url,
        min_fill_seconds=min_fill_seconds,
    )
    form = LeadForm.objects.create(
        name=name,
        segment=segment,
        pipeline=pipeline,
        fields=_clean_form_fields(fields),
        thank_you_text=thank_you_text.strip(),
        redirect_url=redirect_url,
        min_fill_seconds=min_fill_seconds,
        created_by=by,
    )
    audit_record(actor=by, instance=form, action=AuditAction.CREATE)
    return form


@transaction.atomic
def form_update(
    *,
    form_id: int,
    by: User | None,
    name: str,
    segment: Segment | None,
    pipeline: Pipeline | None,
    fields: list[Any],
    thank_you_text: str,
    redirect_url: str,
    min_fill_seconds: int,
    is_active: bool,
) -> LeadForm:
    """Change a web form's settings, by the rules of form_create (owners and heads; `by=None`
    is the server operator).

    The key stays, so snippets already pasted into sites keep working; a form switched off
    answers 404 and records nothing until it is switched on again. Leads it already brought in
    keep their segment.
    """
    require_settings_access(by, _("Only owners and heads of sales may change web forms."))
    try:
        form = LeadForm.objects.select_for_update().get(pk=form_id)
    except LeadForm.DoesNotExist as exc:
        raise ServiceError(_("This web form does not exist."), field="form") from exc
    before = audit_snapshot(form)
    form.name, form.redirect_url = _clean_form_settings(
        name=name,
        segment=segment,
        pipeline=pipeline,
        redirect_url=redirect_url,
        min_fill_seconds=min_fill_seconds,
        current_pipeline_id=form.pipeline_id,
    )
    form.fields = _clean_form_fields(fields)
    form.segment = segment
    form.pipeline = pipeline
    form.thank_you_text = thank_you_text.strip()
    form.min_fill_seconds = min_fill_seconds
    form.is_active = is_active
    form.save(
        update_fields=[
            "name",
            "redirect_url",
            "fields",
            "segment",
            "pipeline",
            "thank_you_text",
            "min_fill_seconds",
            "is_active",
        ]
    )
    audit_record(actor=by, instance=form, action=AuditAction.UPDATE, before=before)
    return form


def form_token(form: LeadForm, *, now: dt.datetime | None = None) -> str:
    """The signed `_ts` a served form carries: when it was served, for the minimum fill time."""
    issued = (now or timezone.now()).timestamp()
    return signing.dumps({"k": form.key, "t": round(issued, 3)}, salt=FORM_TOKEN_SALT)


def _fill_time(form: LeadForm, token: str, now: dt.datetime) -> tuple[float | None, str | None]:
    """Seconds since the form was served, and a spam reason when the token says so."""
    if not token:
        # Server-to-server and JSON callers post without a served form; only the honeypot
        # and the rate limits apply to them.
        return None, None
    try:
        value = signing.loads(token, salt=FORM_TOKEN_SALT)
        issued = float(value["t"])
        if value["k"] != form.key:
            raise ValueError(value["k"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None, "bad_timestamp"
    seconds = round(now.timestamp() - issued, 3)
    return seconds, ("too_fast" if seconds < form.min_fill_seconds else None)


def _utm(data: Mapping[str, str], referrer: str) -> dict[str, str]:
    """UTM tags from the submission, else from the query string of the page it came from."""
    utm = {name: str(data.get(name, "")).strip()[:200] for name in UTM_FIELDS}
    if not any(utm.values()) and referrer:
        query = dict(parse_qsl(urlsplit(referrer).query))
        utm = {name: query.get(name, "").strip()[:200] for name in UTM_FIELDS}
    return {name: value for name, value in utm.items() if value}


@dataclass(frozen=True)
class FormResult:
    """A submission's outcome: the lead (new, or the earlier one for a repeated key) or errors.

    `suppressed`: the contacts belong to an erased person, so nothing was recorded; the visitor
    is thanked as usual, so the form does not reveal who asked to be erased.
    """

    form: LeadForm
    lead: Lead | None = None
    created: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)
    suppressed: bool = False

    @property
    def ok(self) -> bool:
        return self.lead is not None or self.suppressed

    @property
    def message(self) -> str:
        return self.form.thank_you_text or _("Thank you! We will get back to you soon.")


def _form_errors(form: LeadForm, values: dict[str, str], idempotency_key: str) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    shown = form.shown_fields()
    for spec in shown:
        if spec["required"] and not values[spec["name"]]:
            errors.setdefault(spec["name"], []).append(_("This field is required."))
    for name, limit in FIELD_MAX_LENGTH.items():
        if len(values[name]) > limit:
            errors.setdefault(name, []).append(
                _("This is too long (%(limit)d characters at most).") % {"limit": limit}
            )
    if not values["phone"] and not values["email"]:
        # The rule is lead_receive's; checked here too so the caller hears about every missing
        # field at once, on the contact field the form actually shows.
        contacts = [s["name"] for s in shown if s["name"] in ("phone", "email")] or ["phone"]
        errors.setdefault(contacts[0], []).append(_("Enter a phone number or an e-mail."))
    if len(idempotency_key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        errors["idempotency_key"] = [
            _("The Idempotency-Key is too long (%(limit)d characters at most).")
            % {"limit": IDEMPOTENCY_KEY_MAX_LENGTH}
        ]
    return errors


def _form_answers(data: Mapping[str, str]) -> dict[str, str]:
    """Answers to qualifying questions, posted as `q_<question id>`."""
    return {
        name[2:]: str(value)
        for name, value in data.items()
        if name.startswith("q_") and name[2:].isdigit()
    }


def _answer_errors(form: LeadForm, answers: Mapping[str, str]) -> dict[str, list[str]]:
    """Invalid answers, keyed `q_<question id>`. Checked with the other fields so the visitor
    hears of every mistake at once; lead_qualify checks them again when it stores them."""
    if not answers or form.lead_segment is None:
        return {}
    score = score_answers(selectors.form_questions(form), answers)
    return {f"q_{key}": [message] for key, message in score.errors.items()}


def form_submit(
    *,
    key: str,
    data: Mapping[str, str],
    ip: str,
    referrer: str,
    user_agent: str,
    idempotency_key: str,
    now: dt.datetime | None = None,
) -> FormResult:
    """Record one public form submission as a lead, or say per field what is wrong with it.

    Suspected spam (the honeypot filled in, filled faster than the form's minimum, a forged
    timestamp) and submissions over the rate limits are recorded too, marked with their reasons
    in `payload["spam_reasons"]`: a false positive stays recoverable. Only unusable input (no
    name, no way to reach the person) is refused, and then nothing is written.

    Not one transaction on purpose: the rate counters commit on their own, so a slow lead write
    does not hold the counter row (and with it every other submission to the form).
    """
    now = now or timezone.now()
    form = selectors.active_form(key)
    if form is None:
        raise FormNotFound(_("This form does not exist or is switched off."), field="key")
    values = {name: str(data.get(name, "") or "").strip() for name in FORM_FIELDS}
    idempotency_key = idempotency_key.strip()
    answers = _form_answers(data)
    errors = {**_form_errors(form, values, idempotency_key), **_answer_errors(form, answers)}
    if errors:
        return FormResult(form=form, errors=errors)

    # Scoped to the form, so a key cannot collide with (or fish for) another channel's leads.
    scoped_key = f"form:{form.key}:{idempotency_key}" if idempotency_key else None
    if scoped_key:
        earlier = Lead.objects.filter(idempotency_key=scoped_key).first()
        if earlier is not None:
            return FormResult(form=form, lead=earlier, created=False)

    reasons = []
    if str(data.get(HONEYPOT_FIELD, "") or "").strip():
        reasons.append("honeypot")
    fill_seconds, fill_reason = _fill_time(form, str(data.get("_ts", "") or ""), now)
    if fill_reason:
        reasons.append(fill_reason)
    window = settings.CONVEYOR_FORM_RATE_WINDOW
    if not ratelimit.hit(
        f"form-ip:{ip}", limit=settings.CONVEYOR_FORM_RATE_PER_IP, window_seconds=window, now=now
    ):
        reasons.append("rate_limit_ip")
    if not ratelimit.hit(
        f"form:{form.pk}",
        limit=settings.CONVEYOR_FORM_RATE_PER_FORM,
        window_seconds=window,
        now=now,
    ):
        reasons.append("rate_limit_form")

    referrer = referrer.strip()[:1000]
    submission = uuid.uuid4().hex
    payload: dict[str, Any] = {
        "form": form.key,
        "submission": submission,
        "referrer": referrer,
        "ip": ip,
        "user_agent": user_agent[:500],
        "fill_seconds": fill_seconds,
    }
    if values["company"]:
        payload["company"] = values["company"]
    if reasons:
        payload["spam_reasons"] = reasons
    try:
        lead = lead_receive(
            channel=LeadChannel.WEB_FORM,
            name=values["name"],
            phone=values["phone"],
            email=values["email"],
            source=form.name[:64],
            segment=form.lead_segment,
            payload=payload,
            utm=_utm(data, referrer),
            idempotency_key=scoped_key,
            received_at=now,
            note=values["message"],
            form=form,
            is_suspected_spam=bool(reasons),
            answers=answers,
        )
    except QualificationError as error:
        return FormResult(
            form=form, errors={f"q_{key}": [message] for key, message in error.errors.items()}
        )
    except ContactSuppressed:
        return FormResult(form=form, suppressed=True)
    except ServiceError as error:
        return FormResult(form=form, errors={error.field or "__all__": [error.message]})
    # Another request with the same key may have won a race inside lead_receive: then the lead
    # is that request's, and this one is a replay.
    created = lead.payload.get("submission") == submission
    return FormResult(form=form, lead=lead, created=created)


# --- Settings screens: qualifying questions and routing rules ----------------------------------


def _require_intake_settings(by: User | None) -> None:
    require_settings_access(
        by, _("Only owners and heads of sales change qualification and routing.")
    )


# Points per answer: far beyond any real scoring, small enough that a lead's summed score always
# fits its column (a 32-bit integer).
MAX_POINTS = 100_000


def _points(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ServiceError(_("Points must be whole numbers."), field=field)
    try:
        points = int(value)
    except ValueError:
        raise ServiceError(_("Points must be whole numbers."), field=field) from None
    if abs(points) > MAX_POINTS:
        raise ServiceError(
            _("Points must lie between -%(max)s and %(max)s.") % {"max": MAX_POINTS}, field=field
        )
    return points


def question_scoring_clean(kind: str, options: list[Any], scoring: Any) -> tuple[list[str], Any]:
    """A question's options and scoring in the shape `qualification.score_one` reads, or a
    refusal saying what is wrong: choices need options (points per option, unknown options
    refused), yes/no points for "yes" and "no", numbers [min, max, points] bands with min ≤ max,
    text points for "answered"."""
    if kind == QuestionKind.CHOICE:
        cleaned = [str(option).strip() for option in options if str(option).strip()]
        if not cleaned:
            raise ServiceError(_("A choice question needs its options."), field="scoring")
        if len(set(cleaned)) != len(cleaned):
            raise ServiceError(_("An option is listed twice."), field="scoring")
        table = scoring if isinstance(scoring, dict) else {}
        unknown = [str(key) for key in table if str(key) not in cleaned]
        if unknown:
            raise ServiceError(
                _("Points for an option the question does not have: %(option)s")
                % {"option": unknown[0]},
                field="scoring",
            )
        return cleaned, {str(key): _points(value, "scoring") for key, value in table.items()}
    if options:
        raise ServiceError(_("Only choice questions have options."), field="scoring")
    if kind == QuestionKind.YES_NO:
        table = scoring if isinstance(scoring, dict) else {}
        if set(table) - {"yes", "no"}:
            raise ServiceError(_("A yes/no question scores “yes” and “no” only."), field="scoring")
        return [], {key: _points(value, "scoring") for key, value in table.items()}
    if kind == QuestionKind.NUMBER:
        bands = []
        for band in scoring if isinstance(scoring, list) else []:
            if not isinstance(band, list | tuple) or len(band) != 3:
                raise ServiceError(
                    _("Each band is a minimum, a maximum and points."), field="scoring"
                )
            low, high = (_band_end(value) for value in band[:2])
            if low > high:
                raise ServiceError(
                    _("A band's minimum is above its maximum: %(low)s..%(high)s")
                    % {"low": band[0], "high": band[1]},
                    field="scoring",
                )
            bands.append([low, high, _points(band[2], "scoring")])
        return [], bands
    table = scoring if isinstance(scoring, dict) else {}
    if set(table) - {"answered"}:
        raise ServiceError(_("A text question scores “answered” only."), field="scoring")
    return [], {key: _points(value, "scoring") for key, value in table.items()}


def _band_end(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ServiceError(_("A band's ends must be numbers."), field="scoring")
    return value


@transaction.atomic
def question_save(
    *,
    by: User | None,
    question_id: int | None,
    segment: Segment,
    position: int | None,
    text: str,
    kind: str,
    options: list[Any],
    scoring: Any,
    is_required: bool,
) -> QualificationQuestion:
    """Create a qualifying question of a segment (`question_id` None; after the segment's last
    unless `position` is given) or change one; the options and scoring are checked against the
    kind (`question_scoring_clean`). A question stays in its segment: the answers leads gave
    and the routing rules that ask about it are that segment's."""
    _require_intake_settings(by)
    before = None
    if question_id is None:
        question = QualificationQuestion(segment=segment)
    else:
        question = locked_or_refuse(
            QualificationQuestion,
            question_id,
            _("This question does not exist."),
            field="question",
        )
        if question.segment_id != segment.pk:
            raise ServiceError(
                _("A question stays in its segment: add a new one to the other segment."),
                field="segment",
            )
        before = audit_snapshot(question)
    if position is None:
        position = (
            question.position
            if question.pk is not None
            else next_position(QualificationQuestion.objects.filter(segment=segment))
        )
    taken = QualificationQuestion.objects.filter(segment=segment, position=position)
    if taken.exclude(pk=question.pk).exists():
        raise ServiceError(
            _("Question %(n)s of this segment already exists: give this one another number.")
            % {"n": position},
            field="position",
        )
    question.options, question.scoring = question_scoring_clean(kind, options, scoring)
    question.position = position
    question.text = text.strip()
    question.kind = kind
    question.is_required = is_required
    clean_and_save(question)
    audit_saved(actor=by, instance=question, before=before)
    return question


@transaction.atomic
def routing_rule_save(
    *,
    by: User | None,
    rule_id: int | None,
    name: str,
    position: int,
    is_active: bool,
    segment: Segment | None,
    form: LeadForm | None,
    source: str,
    min_score: int | None,
    question: QualificationQuestion | None,
    answer: str,
    pipeline: Pipeline,
    owner_strategy: str,
    team: Team | None,
    fixed_owner: User | None,
    auto_accept: bool,
) -> RoutingRule:
    """Create a routing rule (`rule_id` None) or change it. The pipeline must be an active
    conversion pipeline (of the rule's segment, when it has one); a question needs the answer
    it waits for (and belongs to the rule's segment); round robin and fewest-open pick in a
    team, which a head of sales must head; a fixed manager must be active and someone the
    actor may give deals to. Switching a rule off keeps it for later."""
    _require_intake_settings(by)
    rule, before = audit_editing(
        RoutingRule, rule_id, _("This routing rule does not exist."), field="rule"
    )
    if pipeline.process != Process.CONVERSION or not pipeline.is_active:
        raise ServiceError(_("Route leads into an active conversion pipeline."), field="pipeline")
    if segment is not None and pipeline.segment_id not in (None, segment.pk):
        raise ServiceError(_("This pipeline belongs to another segment."), field="pipeline")
    answer = answer.strip()
    if question is not None and not answer:
        raise ServiceError(_("Give the answer the question must get."), field="answer")
    if question is None and answer:
        raise ServiceError(_("Choose the question this answer is for."), field="question")
    if question is not None and segment is not None and question.segment_id != segment.pk:
        raise ServiceError(_("This question belongs to another segment."), field="question")
    if owner_strategy == OwnerStrategy.FIXED:
        if fixed_owner is None:
            raise ServiceError(_("Choose the manager who gets the leads."), field="fixed_owner")
        if not fixed_owner.is_active:
            raise ServiceError(_("This user is deactivated."), field="fixed_owner")
        if by is not None and not can_manage_users_of(by, fixed_owner):
            raise PermissionDenied(
                _("You may give leads to the people of your teams only."), field="fixed_owner"
            )
        team = None
    else:
        if team is None:
            raise ServiceError(_("Choose the team whose managers get the leads."), field="team")
        if by is not None and not can_manage_team(by, team):
            raise PermissionDenied(_("Route leads to the teams you head only."), field="team")
        fixed_owner = None
    rule.name = name.strip()
    rule.position = position
    rule.is_active = is_active
    rule.segment = segment
    rule.form = form
    rule.source = source.strip()
    rule.min_score = min_score
    rule.question = question
    rule.answer = answer
    rule.pipeline = pipeline
    rule.owner_strategy = owner_strategy
    rule.team = team
    rule.fixed_owner = fixed_owner
    rule.auto_accept = auto_accept
    clean_and_save(rule, exclude=["last_assigned"])
    audit_saved(actor=by, instance=rule, before=before)
    return rule
