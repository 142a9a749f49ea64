"""Settings → what automation sends out: e-mail templates (a subject and text per language)
and outgoing webhooks (an address told about events, each request signed).

A webhook's signing secret is made by the service, never typed: it is shown in full once,
on the page that answers its creation or its rotation (not cached, not put in a message or
the session), and afterwards only by its last characters."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from conveyor.automation.mail import email_template_save
from conveyor.automation.models import Trigger, WebhookEndpoint
from conveyor.automation.selectors import settings_email_templates, settings_webhooks
from conveyor.automation.services import webhook_endpoint_save, webhook_secret_rotate
from conveyor.automation.webhooks import SECRET_SHOWN_CHARS
from conveyor.core.errors import ServiceError
from conveyor.web.forms import add_service_error
from conveyor.web.forms_settings import EmailTemplateForm, WebhookForm
from conveyor.web.views.settings import form_page, record_or_404, settings_user


@login_required
def email_template_list(request: HttpRequest) -> HttpResponse:
    user = settings_user(request)
    return render(
        request,
        "web/settings/email_templates.html",
        {"templates": settings_email_templates(user)},
    )


@login_required
def email_template_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new e-mail template, or one's name, switch and texts in each language."""
    user = settings_user(request)
    template = record_or_404(settings_email_templates(user), pk)
    form = EmailTemplateForm(request.POST or None, instance=template)

    def save(data: dict[str, Any]) -> Model:
        try:
            return email_template_save(
                by=user,
                template=template,
                name=data["name"],
                is_active=data["is_active"],
                texts=form.texts(),
                formats=form.formats(),
            )
        except ServiceError as error:
            # The service names a language's text as "texts.<code>": shown on its text box.
            if error.field and error.field.startswith("texts."):
                error.field = "body_" + error.field.removeprefix("texts.")
            raise

    return form_page(
        request,
        form,
        save=save,
        saved=_("E-mail template saved."),
        then=lambda record: reverse("web:settings-email-template", kwargs={"pk": record.pk}),
        template="web/settings/email_template.html",
        context={
            "record": template,
            "title": template.name if template else _("New e-mail template"),
            "back": reverse("web:settings-email-templates"),
        },
    )


@login_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    user = settings_user(request)
    labels = dict(Trigger.choices)
    webhooks = [
        (webhook, [str(labels.get(event, event)) for event in webhook.events])
        for webhook in settings_webhooks(user)
    ]
    return render(request, "web/settings/webhooks.html", {"webhooks": webhooks})


def _secret_page(request: HttpRequest, endpoint: WebhookEndpoint, *, created: bool) -> HttpResponse:
    """The one page that shows the whole secret: the answer to the POST that made it."""
    response = render(
        request,
        "web/settings/webhook_secret.html",
        {"endpoint": endpoint, "created": created, "back": reverse("web:settings-webhooks")},
    )
    add_never_cache_headers(response)
    return response


@login_required
def webhook_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new webhook (answered with its secret, shown this once), or one's name, address,
    events and switch, with the end of its secret and the button that rotates it."""
    user = settings_user(request)
    endpoint = record_or_404(settings_webhooks(user), pk)
    form = WebhookForm(request.POST or None, instance=endpoint)

    def save(data: dict[str, Any]) -> WebhookEndpoint:
        return webhook_endpoint_save(
            by=user,
            endpoint_id=pk,
            name=data["name"],
            url=data["url"],
            events=data["events"],
            is_active=data["is_active"],
        )

    if endpoint is None and request.method == "POST" and form.is_valid():
        try:
            created = save(form.cleaned_data)
        except ServiceError as error:
            add_service_error(form, error)  # form_page below shows the form with it (400)
        else:
            return _secret_page(request, created, created=True)
    return form_page(
        request,
        form,
        save=save,
        saved=_("Webhook saved."),
        template="web/settings/webhook.html",
        context={
            "record": endpoint,
            "title": endpoint.name if endpoint else _("New webhook"),
            "back": reverse("web:settings-webhooks"),
            "secret_end": endpoint.secret[-SECRET_SHOWN_CHARS:] if endpoint else "",
        },
    )


@login_required
@require_POST
def webhook_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    """A new signing secret for the webhook, shown this once."""
    user = settings_user(request)
    endpoint = record_or_404(settings_webhooks(user), pk)
    assert endpoint is not None
    return _secret_page(
        request, webhook_secret_rotate(by=user, endpoint_id=endpoint.pk), created=False
    )
