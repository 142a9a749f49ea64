"""The public side of web-to-lead forms: `GET /f/<key>` serves the form, `POST /f/<key>` takes it.

No login: anyone on the internet may post. The service does the validation, the spam marks and
the rate limits; this module only parses the request and picks JSON or HTML for the answer.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from conveyor.core.csp import embeddable
from conveyor.intake.embed import FORM_FIELD_LABELS
from conveyor.intake.models import LeadForm
from conveyor.intake.selectors import active_form, form_questions
from conveyor.intake.services import (
    HONEYPOT_FIELD,
    UTM_FIELDS,
    FormNotFound,
    FormResult,
    form_submit,
    form_token,
)


def _wants_json(request: HttpRequest) -> bool:
    return (
        request.content_type == "application/json"
        or "application/json" in request.headers.get("Accept", "")
        or request.headers.get("X-Requested-With") == "XMLHttpRequest"
    )


def _submitted(request: HttpRequest) -> dict[str, str] | None:
    """The posted fields as strings; None when a JSON body is not a JSON object."""
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(body, dict):
            return None
        return {
            str(name): "" if value is None else str(value)
            for name, value in body.items()
            if isinstance(value, str | int | float | bool) or value is None
        }
    return {name: request.POST.get(name, "") for name in request.POST}


def _render_form(
    request: HttpRequest,
    form: LeadForm,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> HttpResponse:
    values = values or {}
    errors = errors or {}
    hidden = {
        "_ts": values.get("_ts") or form_token(form),
        # The iframe's own request carries the embedding page as its Referer; keep it, since
        # the POST will come from this page instead.
        "_referrer": values.get("_referrer") or request.headers.get("Referer", ""),
    }
    for name in UTM_FIELDS:
        value = values.get(name) or request.GET.get(name, "")
        if value:
            hidden[name] = value
    questions = [
        {
            "name": f"q_{question.pk}",
            "text": question.text,
            "kind": question.kind,
            "required": question.is_required,
            "options": question.shown_options(),
            "value": values.get(f"q_{question.pk}", ""),
            "errors": errors.get(f"q_{question.pk}", []),
        }
        for question in form_questions(form)
    ]
    fields = [
        {
            "name": spec["name"],
            "label": FORM_FIELD_LABELS[spec["name"]],
            "required": spec["required"],
            "value": values.get(spec["name"], ""),
            "errors": errors.get(spec["name"], []),
        }
        for spec in form.shown_fields()
    ]
    # Errors on anything not shown as an input (an unknown question, the segment) go on top.
    shown = {item["name"] for item in [*fields, *questions]}
    context = {
        "form": form,
        "fields": fields,
        "questions": questions,
        "other_errors": [
            message
            for name, messages in errors.items()
            if name not in shown
            for message in messages
        ],
        "hidden": hidden,
        "honeypot": HONEYPOT_FIELD,
    }
    return render(request, "web/forms/public.html", context, status=status)


def _answer(request: HttpRequest, result: FormResult, values: dict[str, str]) -> HttpResponse:
    if _wants_json(request):
        if not result.ok:
            return JsonResponse({"ok": False, "errors": result.errors}, status=400)
        body: dict[str, Any] = {"ok": True, "message": result.message}
        if result.lead is not None:
            body["lead_id"] = result.lead.pk
        return JsonResponse(body, status=201 if result.created or result.suppressed else 200)
    if not result.ok:
        return _render_form(request, result.form, values=values, errors=result.errors, status=400)
    if result.form.redirect_url:
        return HttpResponseRedirect(result.form.redirect_url)
    return render(request, "web/forms/thanks.html", {"message": result.message})


# Posted from other sites by anonymous visitors: there is no session whose authority a forged
# request could borrow, so CSRF protection has nothing to protect and would only refuse every
# embed. Abuse is handled by the honeypot, the fill time and the rate limits instead.
@csrf_exempt
# Meant to be shown in an <iframe> on the customer's own site.
@xframe_options_exempt
@embeddable
@require_http_methods(["GET", "POST"])
def public_form(request: HttpRequest, key: str) -> HttpResponse:
    if request.method == "GET":
        form = active_form(key)
        if form is None:
            raise Http404(_("This form does not exist or is switched off."))
        return _render_form(request, form)
    values = _submitted(request)
    if values is None:
        message = _("The request body must be a JSON object.")
        return JsonResponse({"ok": False, "errors": {"__all__": [message]}}, status=400)
    try:
        result = form_submit(
            key=key,
            data=values,
            ip=request.META.get("REMOTE_ADDR", ""),
            referrer=values.get("_referrer")
            or values.get("referrer")
            or request.headers.get("Referer", ""),
            user_agent=request.headers.get("User-Agent", ""),
            idempotency_key=request.headers.get("Idempotency-Key", ""),
        )
    except FormNotFound as error:
        if _wants_json(request):
            return JsonResponse({"ok": False, "errors": {"key": [error.message]}}, status=404)
        raise Http404(error.message) from None
    return _answer(request, result, values)
