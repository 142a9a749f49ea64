"""A web form as a site embeds it: its public address, its fields with their labels, the
segment's qualifying questions, and the two snippets to paste (a frame, or a plain HTML form to
style). Built once here for the form's settings page and the API alike.

The snippets are HTML source (user text escaped once, as the site needs it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from conveyor.intake.models import LeadForm, QualificationQuestion
from conveyor.intake.selectors import form_questions

FORM_FIELD_CHOICES = [
    ("name", _("Name")),
    ("phone", _("Phone")),
    ("email", _("E-mail")),
    ("company", _("Company")),
    ("message", _("Message")),
]
FORM_FIELD_LABELS = dict(FORM_FIELD_CHOICES)


def labelled_fields(form: LeadForm) -> list[dict[str, Any]]:
    """The fields the form shows, each with its label in the reader's language."""
    return [{**spec, "label": FORM_FIELD_LABELS[spec["name"]]} for spec in form.shown_fields()]


def public_url(request: HttpRequest, form: LeadForm) -> str:
    return request.build_absolute_uri(reverse("web:public-form", kwargs={"key": form.key}))


@dataclass(frozen=True)
class FormEmbed:
    url: str
    questions: list[QualificationQuestion]
    iframe_snippet: str
    html_snippet: str


def form_embed(request: HttpRequest, form: LeadForm) -> FormEmbed:
    """The form's public address, questions and snippets (one query, for the questions)."""
    url = public_url(request, form)
    questions = list(form_questions(form))
    return FormEmbed(
        url=url,
        questions=questions,
        iframe_snippet=str(
            format_html(
                '<iframe src="{}" title="{}" style="border:0;width:100%;max-width:460px;'
                'height:{}px"></iframe>',
                url,
                form.name,
                480 + 90 * len(questions),
            )
        ),
        html_snippet=render_to_string(
            "web/forms/snippet.html",
            {"url": url, "fields": labelled_fields(form), "questions": questions},
            request=request,
        ),
    )
