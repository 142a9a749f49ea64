"""Forms of the web UI: input parsing only; the rules live in the services."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, QueryDict
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from conveyor.accounts.models import Role, Team, TokenKind, TokenScope, User
from conveyor.core.errors import ServiceError
from conveyor.core.selectors import audit_latest_id
from conveyor.intake.crm_import.profiles import FIELDS, PROFILES
from conveyor.intake.embed import FORM_FIELD_CHOICES
from conveyor.intake.models import Lead, LeadChannel, default_form_fields
from conveyor.intake.models import LeadForm as WebForm
from conveyor.people.models import Company, Temperature
from conveyor.people.selectors import (
    COMPANY_SORTS,
    DEFAULT_COMPANY_SORT,
    DEFAULT_PEOPLE_SORT,
    PEOPLE_SORTS,
    companies_for,
    people_sources,
)
from conveyor.pipelines.models import Deal, DealStatus, LossReason, Pipeline, Segment, Stage
from conveyor.pipelines.selectors import DEAL_SORTS, DEFAULT_DEAL_SORT, DealDates, Lifecycle
from conveyor.touches.models import Channel, ClosingStep, Outcome, TouchKind


class StageChoiceField(forms.ModelChoiceField[Stage]):
    """A stage named with its pipeline, for lists mixing the stages of several pipelines."""

    def label_from_instance(self, obj: Model) -> str:
        assert isinstance(obj, Stage)
        return f"{obj.pipeline.name} · {obj}"


class StagesChoiceField(forms.ModelMultipleChoiceField[Stage]):
    """Several stages, each named with its pipeline."""

    def label_from_instance(self, obj: Model) -> str:
        assert isinstance(obj, Stage)
        return f"{obj.pipeline.name} · {obj}"


def add_service_error(form: forms.BaseForm, error: ServiceError) -> None:
    """Show a service's refusal on the field it names, or above the form."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


def edit_conflict(request: HttpRequest, form: forms.BaseForm, record: Model | None) -> int:
    """The record's stamp (the id of its newest audit entry) for the page's hidden `seen`.

    A form sends every field, so saving it over someone's later change would silently put
    back the values its page showed. When the posted `seen` is older than the stamp, the form
    gets a note above it and is invalid (nothing saved); shown again with the posted values
    and the new stamp, the next save is the user's informed choice. A post without `seen`
    (a script) is left alone."""
    latest = audit_latest_id(record) if record is not None else 0
    seen = request.POST.get("seen") if request.method == "POST" else None
    if record is not None and form.is_bound and seen is not None and seen != str(latest):
        form.add_error(
            None,
            _(
                "Someone saved this record after you opened it; nothing was saved. "
                "Its history shows what changed. Check the values below and save again "
                "to keep yours."
            ),
        )
    return latest


class DealActionForm(forms.Form):
    """A form acting on one deal; choices may depend on the deal's pipeline."""

    def __init__(self, *args: Any, deal: Deal, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deal = deal


class VersionedForm(DealActionForm):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class MoveForm(VersionedForm):
    stage = forms.ModelChoiceField(queryset=Stage.objects.none(), label=_("Move to stage"))
    confirmed = forms.BooleanField(required=False)

    def __init__(self, *args: Any, deal: Deal, **kwargs: Any) -> None:
        super().__init__(*args, deal=deal, **kwargs)
        stages: QuerySet[Stage] = deal.pipeline.stages.filter(is_archived=False).order_by(
            "position"
        )
        self.fields["stage"].queryset = stages  # type: ignore[attr-defined]
        criterion = deal.stage.exit_criterion
        # The stage is left by the client's action: moving on means saying it happened.
        self.fields["confirmed"].label = (
            _("Confirmed: %(criterion)s") % {"criterion": criterion}
            if criterion
            else _("Confirmed")
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        stage: Stage | None = data.get("stage")
        forward = stage is not None and stage.position > self.deal.stage.position
        if forward and self.deal.stage.exit_criterion and not data.get("confirmed"):
            self.add_error(
                "confirmed",
                _("Confirm the client's action first: %(criterion)s")
                % {"criterion": self.deal.stage.exit_criterion},
            )
        return data


class PlaybookCheckForm(DealActionForm):
    item = forms.CharField(max_length=255)
    checked = forms.BooleanField(required=False)


class WinForm(VersionedForm):
    amount = forms.DecimalField(label=_("Final amount"), min_value=Decimal(0), decimal_places=2)


class LoseForm(VersionedForm):
    reason = forms.ModelChoiceField(queryset=LossReason.objects.none(), label=_("Why was it lost?"))
    refused_by_us = forms.BooleanField(label=_("We refused the client"), required=False)
    unmet_criteria = forms.CharField(
        label=_("Criteria the client does not meet"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, deal: Deal, **kwargs: Any) -> None:
        super().__init__(*args, deal=deal, **kwargs)
        reasons = LossReason.objects.filter(
            Q(pipeline__isnull=True) | Q(pipeline=deal.pipeline), is_active=True
        ).order_by("name")
        self.fields["reason"].queryset = reasons  # type: ignore[attr-defined]


class ReopenForm(VersionedForm):
    pass


class TouchForm(DealActionForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=TouchKind.choices)
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices)
    step = forms.ChoiceField(
        label=_("Step asked for"),
        choices=[("", "—"), *ClosingStep.choices],
        required=False,
    )
    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=[("", "—"), *Outcome.choices], required=False
    )
    note = forms.CharField(
        label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class TaskForm(DealActionForm):
    title = forms.CharField(label=_("Next step"), max_length=200)
    due_at = forms.DateTimeField(
        label=_("Due"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=TouchKind.choices)
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices)

    def __init__(self, *args: Any, deal: Deal, **kwargs: Any) -> None:
        # Shown beside the touch form, which has a Kind and a Channel too: ids of their own keep
        # each label naming its own field.
        kwargs.setdefault("auto_id", "task-%s")
        super().__init__(*args, deal=deal, **kwargs)


class LeadForm(forms.Form):
    """A lead taken by hand or on a call: a name and a phone (or e-mail) are enough."""

    name = forms.CharField(label=_("Name"), max_length=200)
    phone = forms.CharField(label=_("Phone"), max_length=32, required=False)
    email = forms.CharField(label=_("E-mail"), max_length=254, required=False)
    channel = forms.ChoiceField(
        label=_("Channel"),
        choices=[(c.value, c.label) for c in (LeadChannel.MANUAL, LeadChannel.CALL)],
        initial=LeadChannel.MANUAL,
    )
    source = forms.CharField(label=_("Source"), max_length=64, required=False)
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.order_by("name"), label=_("Segment"), required=False
    )
    note = forms.CharField(
        label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class LeadAcceptOptions(forms.Form):
    """Where an accepted lead goes; empty means the segment's conversion pipeline and me."""

    pipeline = forms.ModelChoiceField(
        queryset=Pipeline.objects.filter(is_active=True).order_by("name"),
        label=_("Pipeline"),
        required=False,
        empty_label=_("The segment's conversion pipeline"),
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("name"),
        label=pgettext_lazy("person responsible for a deal", "Owner"),
        required=False,
        empty_label=_("Me"),
    )


class LeadActionForm(LeadAcceptOptions):
    """One inbox row's action; merging names the person the lead belongs to."""

    person = forms.IntegerField(label=_("Person id"), required=False, min_value=1)


class LeadBulkForm(LeadAcceptOptions):
    """The inbox toolbar: accept, merge or reject the selected leads. Merging goes into each
    lead's known person (`merge`) or into the one person whose id is typed (`merge_into`)."""

    leads = forms.ModelMultipleChoiceField(
        queryset=Lead.objects.all(), label=_("Leads"), widget=forms.CheckboxSelectMultiple
    )
    action = forms.ChoiceField(
        label=_("Action"),
        choices=[
            ("accept", _("Accept")),
            ("merge", _("Merge")),
            ("merge_into", _("Merge")),
            ("spam", _("Spam")),
        ],
    )
    person = forms.IntegerField(label=_("Person id"), required=False, min_value=1)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action, person = data.get("action"), data.get("person")
        if action == "merge_into" and person is None:
            self.add_error("person", _("Enter the id of the person to merge into."))
        elif action not in (None, "merge_into") and person is not None:
            # Enter in the person field submits the toolbar's first button (accept): a typed
            # id means the user meant to merge, so nothing is accepted or rejected on a guess.
            self.add_error(
                "person",
                _("Clear the person id: it is only for merging into that person."),
            )
        return data


class WebFormCreateForm(forms.Form):
    """A new web-to-lead form: what it shows, where its leads go, what the visitor sees after."""

    name = forms.CharField(label=_("Name"), max_length=200)
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.order_by("name"), label=_("Segment"), required=False
    )
    pipeline = forms.ModelChoiceField(
        queryset=Pipeline.objects.filter(is_active=True).order_by("name"),
        label=_("Pipeline"),
        required=False,
        help_text=_("Its segment is used when no segment is chosen."),
    )
    shown = forms.MultipleChoiceField(
        label=_("Fields shown"),
        choices=FORM_FIELD_CHOICES,
        initial=[spec["name"] for spec in default_form_fields()],
        widget=forms.CheckboxSelectMultiple,
    )
    required = forms.MultipleChoiceField(
        label=_("Fields required"),
        choices=FORM_FIELD_CHOICES,
        initial=[spec["name"] for spec in default_form_fields() if spec["required"]],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("A name and a phone or an e-mail are always needed."),
    )
    thank_you_text = forms.CharField(
        label=_("Thank-you text"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    redirect_url = forms.CharField(
        label=_("Redirect to"),
        required=False,
        max_length=500,
        help_text=_("Instead of the thank-you text, send the visitor to this page."),
    )

    def form_fields(self) -> list[dict[str, Any]]:
        """The `fields` list the service takes, from the two checkbox groups."""
        data = self.cleaned_data
        return [{"name": name, "required": name in data["required"]} for name in data["shown"]]


class WebFormEditForm(WebFormCreateForm):
    """A web form's settings, changed: everything it was created with, plus the minimum fill
    time and whether it takes submissions at all."""

    min_fill_seconds = forms.IntegerField(
        label=_("Minimum fill time, seconds"),
        help_text=_("A form sent faster than this is recorded but marked as suspected spam."),
    )
    is_active = forms.BooleanField(
        label=_("Active"),
        required=False,
        help_text=_("A switched-off form answers “not found” and records nothing."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Keep offering the form's own pipeline even if it was switched off since, or saving
        # any other change would quietly drop it.
        current = (kwargs.get("initial") or {}).get("pipeline")
        self.fields["pipeline"].queryset = Pipeline.objects.filter(  # type: ignore[attr-defined]
            Q(is_active=True) | Q(pk=current)
        ).order_by("name")

    @staticmethod
    def initial_for(form: WebForm) -> dict[str, Any]:
        """The form's current settings as this form's initial values."""
        shown = form.shown_fields()
        return {
            "name": form.name,
            "segment": form.segment_id,
            "pipeline": form.pipeline_id,
            "shown": [spec["name"] for spec in shown],
            "required": [spec["name"] for spec in shown if spec["required"]],
            "thank_you_text": form.thank_you_text,
            "redirect_url": form.redirect_url,
            "min_fill_seconds": form.min_fill_seconds,
            "is_active": form.is_active,
        }


class PersonMergeForm(forms.Form):
    """Who to find, who to keep and which duplicate to join into them (by id)."""

    q = forms.CharField(label=_("Find by name, phone or e-mail"), required=False, max_length=200)
    keep = forms.IntegerField(label=_("Person to keep"), required=False, min_value=1)
    drop = forms.IntegerField(label=_("Duplicate"), required=False, min_value=1)
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("keep") and data.get("keep") == data.get("drop"):
            self.add_error("drop", _("Pick two different people."))
        return data


class CrmUploadForm(forms.Form):
    """Step 1 of an import from another CRM: the export file and where it comes from."""

    file = forms.FileField(label=_("Export file (CSV)"))
    source = forms.ChoiceField(label=_("It comes from"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [  # type: ignore[attr-defined]
            (key, profile.label if key != "csv" else _("Another CRM or a spreadsheet (CSV)"))
            for key, profile in PROFILES.items()
        ]


class CrmImportOptionsForm(forms.Form):
    """Step 2: which column holds each field, and what to do with what is missing or wrong.

    One select per importable field (`map_<field>`), offering the file's columns.
    """

    pipeline = forms.ChoiceField(label=_("Pipeline for rows that name none"), required=False)
    default_loss_reason = forms.CharField(
        label=_("Loss reason for lost deals that give none"), required=False, max_length=160
    )
    create_missing = forms.BooleanField(
        label=_("Create the missing pipelines, stages and loss reasons"), required=False
    )
    skip_bad_rows = forms.BooleanField(
        label=_("Import the good rows and give me a report of the refused ones"), required=False
    )

    def __init__(self, *args: Any, header: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pipelines = Pipeline.objects.filter(is_active=True).order_by("name")
        self.fields["pipeline"].choices = [  # type: ignore[attr-defined]
            ("", "—"),
            *((p.name, p.name) for p in pipelines),
        ]
        columns = [("", "—"), *((column, column) for column in dict.fromkeys(header))]
        self.map_fields = []
        for field in FIELDS:
            name = f"map_{field.key}"
            self.fields[name] = forms.ChoiceField(
                label=field.label, choices=columns, required=False
            )
            self.map_fields.append(self[name])

    def mapping(self) -> dict[str, str]:
        """Every field -> its column ("" = not imported), from the cleaned data."""
        return {field.key: self.cleaned_data.get(f"map_{field.key}") or "" for field in FIELDS}


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=120,
        help_text=_("Where it is used, e.g. “website” or “my laptop”."),
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=TokenKind.choices, initial=TokenKind.PERSONAL)
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=TokenScope.choices,
        initial=[TokenScope.READ, TokenScope.WRITE],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("“Send leads” alone lets a website post leads and nothing else."),
    )


def _code_field() -> forms.CharField:
    return forms.CharField(
        label=_("Code from the authenticator app"),
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class TotpCodeForm(forms.Form):
    """The six-digit code: the login's second step and turning TOTP on."""

    code = _code_field()


class TotpDisableForm(forms.Form):
    code = _code_field()
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class ReportForm(forms.Form):
    """The common report filter (window, segment, pipeline, team, manager, source) plus the
    report's own options; choices are limited to what the viewer may see."""

    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To (not included)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    segment_id = forms.ModelChoiceField(
        queryset=Segment.objects.order_by("name"), label=_("Segment"), required=False
    )
    pipeline_id = forms.ModelChoiceField(
        queryset=Pipeline.objects.order_by("name"), label=_("Pipeline"), required=False
    )
    team_id = forms.ModelChoiceField(queryset=Team.objects.none(), label=_("Team"), required=False)
    manager_id = forms.ModelChoiceField(
        queryset=User.objects.none(), label=_("Manager"), required=False
    )
    source = forms.CharField(label=_("Source"), max_length=64, required=False)

    def __init__(self, *args: Any, viewer: User, report: Any, **kwargs: Any) -> None:
        from conveyor.analytics.selectors import managers_for, teams_for

        super().__init__(*args, **kwargs)
        self.report = report
        self.fields["team_id"].queryset = teams_for(viewer)  # type: ignore[attr-defined]
        self.fields["manager_id"].queryset = managers_for(viewer)  # type: ignore[attr-defined]
        self.fields["pipeline_id"].required = report.needs_pipeline
        for name, option in report.options.items():
            if option.choices:
                self.fields[name] = forms.ChoiceField(
                    label=option.help,
                    choices=[(c, option.labels.get(c, c)) for c in option.choices],
                    initial=option.default,
                    required=False,
                )
            elif option.kind == "date":
                self.fields[name] = forms.DateField(
                    label=option.help,
                    required=False,
                    widget=forms.DateInput(attrs={"type": "date"}),
                )
            elif option.kind == "pipeline":
                self.fields[name] = forms.ModelChoiceField(
                    queryset=Pipeline.objects.order_by("name"), label=option.help, required=False
                )
            else:
                self.fields[name] = forms.IntegerField(
                    label=option.help, min_value=1, initial=option.default, required=False
                )

    def filter_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            **{
                name: data[name].pk if data.get(name) is not None else None
                for name in ("segment_id", "pipeline_id", "team_id", "manager_id")
            },
            "source": data.get("source") or "",
        }

    def options(self) -> dict[str, Any]:
        chosen = {name: self.cleaned_data.get(name) or None for name in self.report.options}
        return {name: getattr(v, "pk", v) for name, v in chosen.items()}  # a pipeline: its id


# --- Lists: people, deals and companies ---------------------------------------------------------

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
NO_OWNER = "none"  # the owner filter's value for records nobody owns


class ListForm(forms.Form):
    """What every list reads from its query string: a search, the sort (a whitelisted column,
    `-column` for descending), the page and its size. Subclasses add their filters and name
    their columns in `sorts` (the selector's whitelist)."""

    sorts: Mapping[str, object] = {}
    default_sort = ""

    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    sort = forms.ChoiceField(label=_("Sort by"), required=False, widget=forms.HiddenInput)
    per_page = forms.TypedChoiceField(
        label=_("Rows per page"),
        choices=[(n, n) for n in PAGE_SIZES],
        coerce=int,
        required=False,
    )
    page = forms.IntegerField(
        label=_("Page"), min_value=1, required=False, widget=forms.HiddenInput
    )

    def __init__(self, data: QueryDict | None = None, **kwargs: Any) -> None:
        if data is not None and not data.get("per_page"):
            data = data.copy()
            data["per_page"] = str(DEFAULT_PAGE_SIZE)  # shown as chosen, not as the first size
        super().__init__(data, **kwargs)
        self.fields["sort"].choices = [  # type: ignore[attr-defined]
            (f"{sign}{key}", f"{sign}{key}") for key in self.sorts for sign in ("", "-")
        ]
        self.fields["sort"].error_messages["invalid_choice"] = _(
            "This list cannot be sorted by “%(value)s”."
        )

    def clean_sort(self) -> str:
        return str(self.cleaned_data.get("sort") or self.default_sort)


def _owner_filter_choices(viewer: User, users: list[User]) -> list[tuple[str, str]]:
    """Anyone, nobody (for those who see unowned records) and every user `viewer` may see."""
    choices = [("", str(_("Anyone")))]
    if viewer.role != Role.MANAGER:
        choices.append((NO_OWNER, str(_("Nobody"))))
    return choices + [(str(user.pk), str(user)) for user in users]


def _owner_filter(value: str) -> dict[str, Any]:
    return {
        "owner_id": int(value) if value and value != NO_OWNER else None,
        "unowned": value == NO_OWNER,
    }


class OwnedListForm(ListForm):
    """A list of records with an owner and a lead source: filters for both. `users` are the
    users `viewer` may see (deactivated ones too: their records still need a new owner); the
    active ones among them are who the bulk edit offers."""

    owner = forms.ChoiceField(
        label=pgettext_lazy("person responsible for a deal", "Owner"), required=False
    )
    source = forms.ChoiceField(label=_("Source"), required=False)

    def __init__(self, data: QueryDict | None = None, *, viewer: User, **kwargs: Any) -> None:
        from conveyor.analytics.filters import visible_users_q

        super().__init__(data, **kwargs)
        self.viewer = viewer
        self.users = list(User.objects.filter(visible_users_q(viewer)).order_by("name", "email"))
        self.assignable = [user for user in self.users if user.is_active]
        self.fields["owner"].choices = _owner_filter_choices(viewer, self.users)  # type: ignore[attr-defined]
        self.fields["source"].choices = [  # type: ignore[attr-defined]
            ("", _("Any")),
            *((source, source) for source in people_sources(viewer)),
        ]


class PeopleFilterForm(OwnedListForm):
    """The people list: search by name, e-mail or phone; owner, source, temperature, lifecycle
    status and company (by id, from the companies list)."""

    sorts = PEOPLE_SORTS
    default_sort = DEFAULT_PEOPLE_SORT

    temperature = forms.ChoiceField(
        label=_("Temperature"), choices=[("", _("Any")), *Temperature.choices], required=False
    )
    lifecycle = forms.ChoiceField(
        label=_("Lifecycle status"), choices=[("", _("Any")), *Lifecycle.choices], required=False
    )
    company = forms.ModelChoiceField(
        queryset=Company.objects.none(),
        label=_("Company"),
        required=False,
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": _("This company does not exist or is not yours to see.")},
    )

    def __init__(self, data: QueryDict | None = None, *, viewer: User, **kwargs: Any) -> None:
        super().__init__(data, viewer=viewer, **kwargs)
        self.fields["company"].queryset = companies_for(viewer)  # type: ignore[attr-defined]

    def filters(self) -> dict[str, Any]:
        """The cleaned filter as `people_list`'s keyword arguments."""
        data = self.cleaned_data
        company = data.get("company")
        return {
            "search": data["q"],
            **_owner_filter(data["owner"]),
            "source": data["source"],
            "temperature": data["temperature"],
            "company_id": company.pk if company is not None else None,
            "sort": data["sort"],
        }


class DealFilterForm(OwnedListForm):
    """The deals list: search by the person's name or the title; status, pipeline, stage, owner,
    the person's source, and a date range (both days included) on the opening or closing date."""

    sorts = DEAL_SORTS
    default_sort = DEFAULT_DEAL_SORT

    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("Any")), *DealStatus.choices], required=False
    )
    pipeline = forms.ModelChoiceField(
        queryset=Pipeline.objects.order_by("name"),
        label=_("Pipeline"),
        required=False,
        empty_label=_("Any"),
    )
    stage = StageChoiceField(
        queryset=Stage.objects.select_related("pipeline").order_by("pipeline__name", "position"),
        label=_("Stage"),
        required=False,
        empty_label=_("Any"),
    )
    dates = forms.ChoiceField(
        label=_("Dates of"), choices=DealDates.choices, initial=DealDates.OPENED, required=False
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        pipeline, stage = data.get("pipeline"), data.get("stage")
        if pipeline is not None and stage is not None and stage.pipeline_id != pipeline.pk:
            self.add_error("stage", _("This stage belongs to another pipeline."))
        date_from, date_to = data.get("date_from"), data.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", _("The end of the range must not be before its start."))
        return data

    def filters(self) -> dict[str, Any]:
        """The cleaned filter as `deals_list`'s keyword arguments."""
        data = self.cleaned_data
        return {
            "search": data["q"],
            "status": data["status"],
            "pipeline_id": data["pipeline"].pk if data.get("pipeline") else None,
            "stage_id": data["stage"].pk if data.get("stage") else None,
            **_owner_filter(data["owner"]),
            "source": data["source"],
            "dates": data["dates"] or DealDates.OPENED,
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "sort": data["sort"],
        }


class CompanyFilterForm(ListForm):
    """The companies list: search by name. Companies have no owner, so no owner filter."""

    sorts = COMPANY_SORTS
    default_sort = DEFAULT_COMPANY_SORT

    def filters(self) -> dict[str, Any]:
        return {"search": self.cleaned_data["q"], "sort": self.cleaned_data["sort"]}


class IdListField(forms.Field):
    """The ticked rows of a list: any number of record ids."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {"invalid": _("Rows are ticked by their ids; “%(value)s” is not one.")}

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        ids = []
        for raw in value if isinstance(value, list | tuple) else [value]:
            try:
                ids.append(int(raw))
            except (TypeError, ValueError):
                raise forms.ValidationError(
                    self.error_messages["invalid"], code="invalid", params={"value": raw}
                ) from None
        return ids


class BulkForm(forms.Form):
    """A bulk edit of a list: the ticked rows, or every row the list's filter (`query`, the
    list's query string) matches."""

    ids = IdListField(required=False)
    all_matching = forms.BooleanField(label=_("All rows matching the filter"), required=False)
    query = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("all_matching") and not data.get("ids") and "ids" not in self.errors:
            raise forms.ValidationError(
                _("Tick the rows to change, or choose all rows matching the filter.")
            )
        return data


class DealBulkForm(BulkForm):
    """Hand the chosen deals to another owner."""

    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True),
        label=_("Hand over to"),
        error_messages={"required": _("Choose who gets the deals.")},
    )


class PeopleBulkForm(BulkForm):
    """Give the chosen people a new owner and/or temperature."""

    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True),
        label=_("Set owner"),
        required=False,
    )
    temperature = forms.ChoiceField(
        label=_("Set temperature"), choices=[("", "—"), *Temperature.choices], required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("owner") and not data.get("temperature"):
            raise forms.ValidationError(_("Choose an owner or a temperature to set."))
        return data
