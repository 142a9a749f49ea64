"""Building test e-mails."""

from __future__ import annotations

from email.message import EmailMessage


def build_message(
    *,
    sender: str = "Ana Petrova <ana@example.org>",
    to: str = "leads@example.com",
    subject: str = "Quote for 20 desks",
    text: str | None = "Hello, please send a quote.",
    html: str | None = None,
    message_id: str | None = "<quote-1@example.org>",
    attachments: list[tuple[str, bytes, str]] | None = None,
) -> bytes:
    message = EmailMessage()
    if sender:
        message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    if text is not None:
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    for name, content, content_type in attachments or []:
        maintype, subtype = content_type.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()
