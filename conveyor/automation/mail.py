"""E-mail out: templates with variables in each UI language, queued as rows, sent through SMTP.

A template's subject and body use Django template syntax over a sandboxed context: `person`,
`deal` and `manager` are plain dicts of strings built here, never model instances, so a template
cannot walk from a deal into its owner's password hash (or anything else in the database).

`email_queue` renders and writes an OutgoingEmail in the caller's transaction and enqueues
`email_send_job` once it commits. `email_send` is one attempt: it claims the row (a duplicate job
finds nothing to claim), talks to the SMTP server outside any transaction, and then, in one
transaction, logs the e-mail as an outgoing warming touch on the deal and marks the row done.
A temporary failure (server down, timeout, 4xx) is retried with exponential backoff; a 5xx
rejection of the recipient or the message is final.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Mapping
from decimal import Decimal
from email.utils import parseaddr
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import (
    DNS_NAME,
    EmailMessage,
    EmailMultiAlternatives,
    get_connection,
    make_msgid,
)
from django.core.mail.message import sanitize_address
from django.core.validators import validate_email
from django.db import transaction
from django.template import Context, Engine, TemplateSyntaxError
from django.utils.translation import gettext as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import (
    can_manage_users_of,
    require_owner_access,
    require_settings_access,
)
from conveyor.automation.attempts import claim, fail, succeed
from conveyor.automation.models import (
    BodyFormat,
    EmailTemplate,
    EmailTemplateText,
    JobStatus,
    OutgoingEmail,
)
from conveyor.automation.tasks import email_send_job
from conveyor.core.audit import audit_deleted, audit_saved, audit_snapshot
from conveyor.core.errors import ServiceError
from conveyor.core.fields import max_length
from conveyor.core.jobs import enqueue_on_commit
from conveyor.core.richtext import rich_text_clean, rich_text_plain
from conveyor.people.models import Person, SuppressionKind
from conveyor.people.privacy import suppressed_field
from conveyor.people.services import normalize_email
from conveyor.pipelines.models import Deal
from conveyor.touches.models import Channel, Direction, Touch, TouchKind
from conveyor.touches.services import touch_log

logger = logging.getLogger(__name__)

# One engine for every template, made once. The e-mails are text/plain, so HTML autoescaping
# would only mangle "&" and quotes in names; it is off on purpose. No libraries can be {% load %}ed
# and there are no loaders, so {% include %} / {% extends %} cannot read files either.
_ENGINE = Engine(autoescape=False, builtins=[], libraries={}, loaders=[], debug=False)
# Formatted (HTML) bodies escape the variables instead: a client named "<b>" stays text.
_HTML_ENGINE = Engine(autoescape=True, builtins=[], libraries={}, loaders=[], debug=False)

# How much of the e-mail the touch note keeps; the full text stays on the OutgoingEmail row.
_NOTE_LIMIT = 4000
_SUBJECT_LIMIT = max_length(OutgoingEmail, "subject")
_TEMPLATE_SUBJECT_LIMIT = max_length(EmailTemplateText, "subject")
_TEMPLATE_NAME_LIMIT = max_length(EmailTemplate, "name")

Variables = dict[str, dict[str, str]]

# Stand-ins used to check that a template renders before it is saved.
_SAMPLE: Variables = {
    "person": {
        "name": "Ana Petrova",
        "first_name": "Ana",
        "email": "ana@example.org",
        "phone": "+359888123456",
        "company": "Example Ltd",
    },
    "deal": {
        "title": "20 desks",
        "amount": "1000.00",
        "currency": "EUR",
        "stage": "Received the offer",
        "pipeline": "Sales",
    },
    "manager": {"name": "Maria Manager", "email": "maria@example.com"},
}


# --- Rendering ------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    """`text` on one line: CR, LF and every other line break become single spaces, so a subject
    can never end a header and start another (header injection)."""
    return " ".join(text.split())


def _variables(*, deal: Deal | None, person: Person, manager: User | None) -> Variables:
    """The sandbox: plain strings copied out of the models, nothing that can be traversed."""
    company = person.company
    name = person.name.strip()
    return {
        "person": {
            "name": name,
            "first_name": name.split()[0] if name else "",
            "email": person.email,
            "phone": person.phone,
            "company": company.name if company is not None else "",
        },
        "deal": (
            {
                "title": deal.title,
                "amount": str(Decimal(deal.amount)),
                "currency": deal.currency,
                "stage": deal.stage.name,
                "pipeline": deal.pipeline.name,
            }
            if deal is not None
            else {"title": "", "amount": "", "currency": "", "stage": "", "pipeline": ""}
        ),
        "manager": {
            "name": manager.get_full_name() if manager is not None else "",
            "email": manager.email if manager is not None else "",
        },
    }


def _render(source: str, variables: Variables, *, html: bool = False) -> str:
    """`source` rendered over `variables` (escaped when `html`); any error in the template is
    a ServiceError."""
    engine = _HTML_ENGINE if html else _ENGINE
    try:
        template = engine.from_string(source)
    except TemplateSyntaxError as exc:
        raise ServiceError(
            _("The template has an error: %(error)s") % {"error": exc}, field="template"
        ) from exc
    try:
        return template.render(Context(variables, autoescape=html))
    # Rendering touches nothing but the strings above; whatever else a template author's tag
    # can raise ({% include %} of a missing file, {% url %} of an unknown name) is their error.
    except Exception as exc:
        raise ServiceError(
            _("The template cannot be rendered: %(error)s") % {"error": exc}, field="template"
        ) from exc


def _client_owner(deal: Deal | None, person: Person) -> User | None:
    """The client's manager: the deal's owner, else the person's."""
    return deal.owner if deal is not None else person.owner


def _manager(*, deal: Deal | None, person: Person, sender: User | None) -> User | None:
    """Whom the e-mail is from: the sender, else the client's manager."""
    return sender if sender is not None else _client_owner(deal, person)


def _preferred_languages(*, deal: Deal | None, person: Person, sender: User | None) -> list[str]:
    """People have no language of their own: the client's manager (the deal's owner, else the
    person's) speaks with them, so their language comes first, then the sender's, then
    LANGUAGE_CODE. Only languages in settings.LANGUAGES count."""
    owner = _client_owner(deal, person)
    known = {code for code, _name in settings.LANGUAGES}
    candidates = [
        owner.language if owner is not None else "",
        sender.language if sender is not None else "",
    ]
    return [code for code in candidates if code in known]


def _pick_text(template: EmailTemplate, wanted: list[str]) -> EmailTemplateText:
    """The template's text in the first of `wanted`, LANGUAGE_CODE, English, or its first."""
    texts = {text.language: text for text in template.texts.order_by("pk")}
    if not texts:
        raise ServiceError(_("This template has no text in any language."), field="template")
    for language in [*wanted, settings.LANGUAGE_CODE, "en"]:
        if language in texts:
            return texts[language]
    return next(iter(texts.values()))


class RenderedEmail(NamedTuple):
    subject: str
    body: str  # plain text (a formatted body's text twin)
    language: str
    html: str  # the formatted body, cleaned; "" for plain text


def email_render(
    *,
    template: EmailTemplate,
    deal: Deal | None,
    person: Person,
    sender: User | None,
    language: str | None = None,
) -> RenderedEmail:
    """The template rendered for this person and deal.

    `language` None chooses it (see `_preferred_languages`); a language the template lacks falls
    back to LANGUAGE_CODE, then English, then whichever text the template has. `{{ manager }}`
    is the sender, else the deal's (or person's) owner. The subject is one line. A formatted
    body is rendered with the variables escaped and cleaned once more (`rich_text_clean`).
    """
    wanted = (
        [language] if language else _preferred_languages(deal=deal, person=person, sender=sender)
    )
    text = _pick_text(template, wanted)
    variables = _variables(
        deal=deal, person=person, manager=_manager(deal=deal, person=person, sender=sender)
    )
    subject = _one_line(_render(text.subject, variables))[:_SUBJECT_LIMIT]
    if text.format == BodyFormat.HTML:
        formatted = rich_text_clean(_render(text.body, variables, html=True))
        return RenderedEmail(subject, rich_text_plain(formatted), text.language, formatted)
    return RenderedEmail(subject, _render(text.body, variables).strip(), text.language, "")


# --- Queueing -------------------------------------------------------------------------------


def _message_id() -> str:
    """A fresh Message-ID in the domain of DEFAULT_FROM_EMAIL (the host's name without one)."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2]
    return make_msgid(domain=domain or str(DNS_NAME))


def _recipient(person: Person) -> str:
    """The person's address, if there is one that may be written to."""
    address = normalize_email(person.email)
    if not address:
        raise ServiceError(_("This person has no e-mail address."), field="person")
    try:
        validate_email(address)
    except ValidationError as exc:
        raise ServiceError(
            _("This person's e-mail address is not valid: %(email)s") % {"email": address},
            field="person",
        ) from exc
    if suppressed_field(email=address, phone="") == SuppressionKind.EMAIL:
        raise ServiceError(
            _("This address belongs to a person erased at their request; nothing is sent to it."),
            field="person",
        )
    return address


@transaction.atomic
def email_queue(
    *,
    by: User | None,
    template: EmailTemplate | None = None,
    deal: Deal | None = None,
    person: Person | None = None,
    subject: str = "",
    body: str = "",
) -> OutgoingEmail:
    """Write an e-mail to a client and send it once this transaction commits.

    The e-mail is about a deal (and goes to its person) or about a person alone. It is either a
    template rendered now or the given `subject` and `body` as they are. `by` must have access
    to the deal's (or person's) owner; `by=None` is automation, sending on the owner's behalf.
    Refused: no or suppressed address, inactive template, empty subject or body.
    """
    if deal is not None:
        if person is not None and person.pk != deal.person_id:
            raise ServiceError(_("This person is not the deal's client."), field="person")
        person = deal.person
    if person is None:
        raise ServiceError(_("Say which deal or person this e-mail is about."), field="deal")
    owner = _client_owner(deal, person)
    if by is not None:
        require_owner_access(by, owner)
    to = _recipient(person)
    sender = by if by is not None else owner
    language = html_body = ""
    if template is not None:
        if subject.strip() or body.strip():
            raise ServiceError(
                _("Send either a template or your own subject and body, not both."),
                field="template",
            )
        if not template.is_active:
            raise ServiceError(_("This template is switched off."), field="template")
        subject, body, language, html_body = email_render(
            template=template, deal=deal, person=person, sender=sender
        )
    else:
        subject = _one_line(subject)[:_SUBJECT_LIMIT]
        body = body.strip()
    if not subject:
        raise ServiceError(_("The e-mail needs a subject."), field="subject")
    if not body:
        raise ServiceError(_("The e-mail needs a text."), field="body")
    email = OutgoingEmail.objects.create(
        template=template,
        deal=deal,
        person=person,
        sender=sender,
        to=to,
        subject=subject,
        body=body,
        html_body=html_body,
        language=language,
        # Made now, so every attempt of this e-mail carries the same Message-ID.
        message_id=_message_id(),
    )
    enqueue_on_commit(email_send_job, email.pk)
    return email


# --- Sending --------------------------------------------------------------------------------


def _smtp_error(exc: Exception) -> tuple[str, bool]:
    """What went wrong, and whether waiting could help. Only a 5xx refusal of the recipient or
    of the message is final; connection trouble, timeouts, 4xx and configuration errors (login,
    sender refused) are retried, so fixing the configuration lets queued e-mails through."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = "; ".join(
            f"{address}: {code} {message.decode(errors='replace')}"
            for address, (code, message) in exc.recipients.items()
        )
        final = all(code >= 500 for code, _message in exc.recipients.values())
        return _("Recipient refused: %(replies)s") % {"replies": replies}, not final
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
        final = isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500
        answer = _("SMTP server answered %(code)s %(text)s")
        return answer % {"code": exc.smtp_code, "text": text}, not final
    unreachable = _("SMTP server unreachable: %(error)s")
    return unreachable % {"error": str(exc) or type(exc).__name__}, True


def _fail(email: OutgoingEmail, error: str, *, retry: bool) -> None:
    """Record a failed attempt (the next one, if any, is enqueued for its time)."""
    logger.info("e-mail %s not sent: %s", email.pk, error)
    fail(email, error, retry=retry)


def _message(email: OutgoingEmail) -> EmailMessage:
    """The message to send: plain text, with the formatted body as an alternative if any."""
    sender = email.sender
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to],
        reply_to=[sender.email] if sender is not None and sender.email else None,
        headers={"Message-ID": email.message_id},
    )
    if email.html_body:
        message.attach_alternative(rich_text_clean(email.html_body), "text/html")
    return message


def _deliver(message: EmailMessage) -> int:
    """Send over a connection of its own; the number of messages the server accepted.

    Errors of the closing QUIT are ignored: by then the server has accepted the message, and
    retrying would send it twice.
    """
    connection = get_connection(fail_silently=False)
    connection.open()
    try:
        return int(connection.send_messages([message]))
    finally:
        try:
            connection.close()
        except (smtplib.SMTPException, OSError):
            logger.warning("SMTP connection not closed cleanly", exc_info=True)


def _touch_note(email: OutgoingEmail) -> str:
    note = _("Subject: %(subject)s") % {"subject": email.subject} + "\n\n" + email.body
    if len(note) > _NOTE_LIMIT:
        note = note[: _NOTE_LIMIT - 1].rstrip() + "…"
    return note


def _log_touch(email: OutgoingEmail) -> Touch:
    """The sent e-mail as an outgoing warming touch, credited to the sender while they still
    have access to the deal's owner, otherwise (as the system) to the owner."""
    deal = email.deal
    owner = _client_owner(deal, email.person)
    sender = email.sender
    by = sender if sender is not None and can_manage_users_of(sender, owner) else None
    return touch_log(
        by=by,
        kind=TouchKind.WARMING,
        deal=deal,
        person=None if deal is not None else email.person,
        channel=Channel.EMAIL,
        direction=Direction.OUTGOING,
        note=_touch_note(email),
    )


def email_send(*, email_id: int) -> OutgoingEmail:
    """One attempt to send an OutgoingEmail; the row, with what came of it.

    A row that is not due (already sent, failed, or claimed by another job) is returned as it
    is and nothing is sent. SMTP is spoken outside any transaction; on success the touch is
    logged and the row marked done in one transaction. A failure that may pass is retried by a
    job enqueued for `next_attempt_at`.
    """
    email = claim(OutgoingEmail, email_id)
    if email is None:
        return OutgoingEmail.objects.get(pk=email_id)
    # The person may have been erased since the e-mail was queued.
    if suppressed_field(email=normalize_email(email.to), phone="") == SuppressionKind.EMAIL:
        succeed(
            email,
            _("Not sent: the address belongs to a person erased at their request."),
            status=JobStatus.SKIPPED,
        )
        return email
    try:
        message = _message(email)
        # Build it now: an address or header Django refuses will not get better by waiting.
        sanitize_address(email.to, message.encoding or settings.DEFAULT_CHARSET)
        message.message()
    except ValueError as exc:
        _fail(email, _("The e-mail cannot be built: %(error)s") % {"error": exc}, retry=False)
        return email
    try:
        sent = _deliver(message)
    except (smtplib.SMTPException, OSError) as exc:
        error, retry = _smtp_error(exc)
        _fail(email, error, retry=retry)
        return email
    if sent != 1:
        _fail(email, _("The e-mail backend sent nothing."), retry=True)
        return email
    with transaction.atomic():
        try:
            with transaction.atomic():
                email.touch = _log_touch(email)
            result = _("Sent to %(to)s.") % {"to": email.to}
        except ServiceError as exc:
            # The e-mail is out; it must not be sent again because the touch was refused.
            result = _("Sent to %(to)s; no touch logged: %(error)s") % {
                "to": email.to,
                "error": exc,
            }
        email.save(update_fields=["touch"])
        succeed(email, result)
    return email


# --- Templates ------------------------------------------------------------------------------


def _clean_texts(
    texts: dict[str, tuple[str, str]], formats: Mapping[str, str]
) -> dict[str, tuple[str, str]]:
    if not texts:
        raise ServiceError(_("Write the template in at least one language."), field="texts")
    return {
        language: email_text_clean(
            language=language,
            subject=subject,
            body=body,
            format=formats.get(language, BodyFormat.TEXT),
            field=f"texts.{language}",
        )
        for language, (subject, body) in texts.items()
    }


def email_text_clean(
    *,
    language: str,
    subject: str,
    body: str,
    format: str = BodyFormat.TEXT,
    field: str = "subject",
) -> tuple[str, str]:
    """One language's subject and text checked (known language, one-line subject that fits,
    both render with sample data) and stripped: what template saving and the admin accept.
    A formatted body comes back cleaned to the allow-list of `conveyor.core.richtext`."""
    if format not in BodyFormat.values:
        raise ServiceError(_("Unknown format: %(value)s.") % {"value": format}, field=field)
    known = dict(settings.LANGUAGES)
    if language not in known:
        raise ServiceError(
            _("'%(value)s' is not a language of this installation.") % {"value": language},
            field=field,
        )
    subject, body = subject.strip(), body.strip()
    if format == BodyFormat.HTML:
        body = rich_text_clean(body)
    if not subject or not body:
        raise ServiceError(
            _("Write both the subject and the text in %(language)s.")
            % {"language": known[language]},
            field=field,
        )
    if "\r" in subject or "\n" in subject:
        raise ServiceError(_("The subject must be one line."), field=field)
    if len(subject) > _TEMPLATE_SUBJECT_LIMIT:
        raise ServiceError(
            _("The subject is longer than %(limit)s characters.")
            % {"limit": _TEMPLATE_SUBJECT_LIMIT},
            field=field,
        )
    for source, html in ((subject, False), (body, format == BodyFormat.HTML)):
        try:
            _render(source, _SAMPLE, html=html)
        except ServiceError as exc:
            raise ServiceError(f"{known[language]}: {exc.message}", field=field) from exc
    return subject, body


@transaction.atomic
def email_template_save(
    *,
    by: User,
    name: str,
    texts: dict[str, tuple[str, str]],
    formats: Mapping[str, str] | None = None,
    template: EmailTemplate | None = None,
    is_active: bool = True,
) -> EmailTemplate:
    """Create a template, or change `template`: its name, whether rules may send it, and its
    (subject, body) per language. The settings screen saves through here; the admin checks each
    text with `email_text_clean`, the same cleaning.

    `texts` is the whole set: languages left out of it are removed. `formats` says which
    languages' bodies are formatted (BodyFormat.HTML); the others are plain text. Each text
    must render with sample data. Owners and heads only. The template and each text written or
    removed get their own audit entry.
    """
    require_settings_access(by, _("Only owners and heads of sales may change e-mail templates."))
    name = name.strip()
    if not name:
        raise ServiceError(_("Give the template a name."), field="name")
    if len(name) > _TEMPLATE_NAME_LIMIT:
        raise ServiceError(
            _("The name is longer than %(limit)s characters.") % {"limit": _TEMPLATE_NAME_LIMIT},
            field="name",
        )
    formats = formats or {}
    cleaned = _clean_texts(texts, formats)
    before = None
    if template is not None:
        try:
            template = EmailTemplate.objects.select_for_update().get(pk=template.pk)
        except EmailTemplate.DoesNotExist as exc:
            raise ServiceError(_("This template does not exist."), field="template") from exc
        before = audit_snapshot(template)
    taken = EmailTemplate.objects.filter(name__iexact=name)
    if template is not None:
        taken = taken.exclude(pk=template.pk)
    if taken.exists():
        raise ServiceError(_("A template with this name already exists."), field="name")
    if template is None:
        template = EmailTemplate.objects.create(name=name, is_active=is_active)
    elif (template.name, template.is_active) != (name, is_active):
        template.name, template.is_active = name, is_active
        template.save(update_fields=["name", "is_active"])
    audit_saved(actor=by, instance=template, before=before)
    for gone in template.texts.exclude(language__in=cleaned):
        audit_deleted(actor=by, instance=gone)
        gone.delete()
    existing = {text.language: text for text in template.texts.select_for_update()}
    for language, (subject, body) in cleaned.items():
        text = existing.get(language) or EmailTemplateText(template=template, language=language)
        text_before = audit_snapshot(text) if text.pk is not None else None
        text.subject, text.body = subject, body
        text.format = formats.get(language, BodyFormat.TEXT)
        text.save()
        audit_saved(actor=by, instance=text, before=text_before)
    return template
