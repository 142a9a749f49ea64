"""E-mail intake: one received message (raw RFC 5322 bytes) becomes one lead.

The SMTP listener (`intake-smtp`) and the IMAP poller (`intake-mail`) both hand raw messages
to `lead_from_message`; everything about parsing, attachments and idempotency lives here.
"""

from __future__ import annotations

import hashlib
import html
import logging
import shutil
import uuid
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.html import strip_tags
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from conveyor.core.errors import ServiceError
from conveyor.core.sniff import is_executable, sniff_type
from conveyor.intake.models import Lead, LeadChannel
from conveyor.intake.services import lead_receive

logger = logging.getLogger(__name__)

ATTACHMENTS_DIR = "leads"
BODY_MAX_CHARS = 20000
SUBJECT_MAX_CHARS = 500
FILENAME_MAX_CHARS = 100
# Lead.idempotency_key holds 128 characters; longer Message-IDs are hashed to fit.
KEY_MAX_CHARS = 128


def _sender(message: EmailMessage) -> tuple[str, str]:
    """The From header's display name and address; ServiceError when there is no usable one."""
    # getaddresses on the raw header text copes with malformed headers that the structured
    # header object would only report as defects.
    pairs = getaddresses([str(value) for value in message.get_all("From", [])])
    for name, address in pairs:
        address = address.strip()
        try:
            validate_email(address)
        except ValidationError:
            continue
        return name.strip(), address
    raise ServiceError(_("The message has no usable sender address."), field="from")


def _idempotency_key(message: EmailMessage, raw: bytes) -> str:
    """`email:<message-id>`, so the same message seen twice (a retry, two polls) is one lead."""
    message_id = str(message.get("Message-ID", "") or "").strip().strip("<>").strip()
    if not message_id:
        # No Message-ID: the exact bytes are the next best identity of a message.
        return "email:sha256:" + hashlib.sha256(raw).hexdigest()
    key = f"email:{message_id}"
    if len(key) > KEY_MAX_CHARS:
        key = "email:sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
    return key


def _body(message: EmailMessage) -> tuple[str, EmailMessage | None]:
    """The plain-text body (else the HTML one, tags stripped) and the part it came from."""
    part = message.get_body(preferencelist=("plain", "html"))
    if not isinstance(part, EmailMessage):
        return "", None
    try:
        text = str(part.get_content())
    except (LookupError, ValueError):  # an unknown charset or broken encoding: keep the lead
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if part.get_content_subtype() == "html":
        text = html.unescape(strip_tags(text))
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()[:BODY_MAX_CHARS], part


def _safe_filename(name: str, index: int, taken: set[str]) -> str:
    """A file name safe on any file system, never a path, unique within the lead's folder."""
    base = Path(name.replace("\\", "/")).name
    try:
        cleaned = get_valid_filename(base)
    except Exception:  # Django refuses names such as "." or "..": use a neutral one
        cleaned = ""
    cleaned = cleaned.lstrip(".")[-FILENAME_MAX_CHARS:] or f"attachment-{index}"
    candidate = cleaned
    while candidate.lower() in taken:
        candidate = f"{index}-{cleaned}"
        index += 1000
    taken.add(candidate.lower())
    return candidate


def _attachments(message: EmailMessage, body_part: EmailMessage | None) -> list[EmailMessage]:
    found = []
    for part in message.walk():
        if part.is_multipart() or part is body_part or not isinstance(part, EmailMessage):
            continue
        if part.get_content_disposition() == "attachment" or part.get_filename():
            found.append(part)
    return found


def _store_attachments(
    parts: list[EmailMessage], folder: Path, *, max_attachment_bytes: int, max_total_bytes: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Write the parts within the limits into `folder`; list the stored and the skipped ones."""
    kept: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    taken: set[str] = set()
    total = 0
    media_root = Path(settings.MEDIA_ROOT)
    for index, part in enumerate(parts, start=1):
        data = part.get_payload(decode=True)
        content = data if isinstance(data, bytes) else b""
        original = str(part.get_filename() or "")
        info: dict[str, Any] = {
            "name": original or f"attachment-{index}",
            "size": len(content),
            "content_type": part.get_content_type(),
            # What the bytes are, whatever the sender's mail program called them.
            "detected_type": sniff_type(content),
        }
        if is_executable(content, original):
            skipped.append({**info, "reason": "executable"})
            continue
        if len(content) > max_attachment_bytes:
            skipped.append({**info, "reason": "too_large", "limit": max_attachment_bytes})
            continue
        if total + len(content) > max_total_bytes:
            skipped.append({**info, "reason": "total_too_large", "limit": max_total_bytes})
            continue
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / _safe_filename(original, index, taken)
        target.write_bytes(content)
        total += len(content)
        kept.append({**info, "path": target.relative_to(media_root).as_posix()})
    return kept, skipped


@transaction.atomic
def attachments_folder(lead_id: int) -> Path:
    """Where a lead's e-mail attachments are kept."""
    return Path(settings.MEDIA_ROOT) / ATTACHMENTS_DIR / str(lead_id)


def lead_from_message(
    raw: bytes,
    *,
    max_attachment_bytes: int,
    max_total_bytes: int,
    recipients: list[str] | None = None,
) -> Lead:
    """Record one e-mail as a lead (channel e-mail): the sender's name and address, the subject,
    the text body (the HTML one stripped when there is no text) and the attachments within the
    limits (stored under MEDIA_ROOT/leads/<lead id>/; the others only listed with the reason).

    A message already recorded (same Message-ID) returns its lead and stores nothing again.
    No usable sender address: ServiceError, nothing written.
    """
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    key = _idempotency_key(message, raw)
    earlier = Lead.objects.filter(idempotency_key=key).first()
    if earlier is not None:
        return earlier
    sender_name, sender_address = _sender(message)
    subject = str(message.get("Subject", "") or "").strip()[:SUBJECT_MAX_CHARS]
    body, body_part = _body(message)
    receipt = uuid.uuid4().hex
    payload: dict[str, Any] = {
        "receipt": receipt,
        "from": sender_address,
        "subject": subject,
        "message_id": str(message.get("Message-ID", "") or "").strip(),
        "date": str(message.get("Date", "") or ""),
        "to": [address for _name, address in getaddresses(message.get_all("To", []))],
    }
    if recipients:
        payload["recipients"] = recipients
    lead = lead_receive(
        channel=LeadChannel.EMAIL,
        name=(sender_name or sender_address.split("@")[0])[:200],
        email=sender_address,
        payload=payload,
        idempotency_key=key,
        note=body,
    )
    if lead.payload.get("receipt") != receipt:
        # The same message arrived concurrently and the other delivery recorded it.
        return lead

    folder = attachments_folder(lead.pk)
    try:
        kept, skipped = _store_attachments(
            _attachments(message, body_part),
            folder,
            max_attachment_bytes=max_attachment_bytes,
            max_total_bytes=max_total_bytes,
        )
        if kept or skipped:
            lead.payload["attachments"] = kept
            if skipped:
                lead.payload["attachments_skipped"] = skipped
            Lead.objects.filter(pk=lead.pk).update(payload=lead.payload)
    except BaseException:
        # The transaction rolls the lead back; its files must not outlive it.
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return lead


def message_limits() -> dict[str, int]:
    """The configured attachment limits, as keyword arguments for `lead_from_message`."""
    return {
        "max_attachment_bytes": settings.CONVEYOR_MAIL_MAX_ATTACHMENT_BYTES,
        "max_total_bytes": settings.CONVEYOR_MAIL_MAX_TOTAL_BYTES,
    }
