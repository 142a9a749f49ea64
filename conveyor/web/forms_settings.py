"""Forms of the settings screens (`conveyor.web.views.settings`): ModelForms that parse what a
head of sales types into the values a service takes.

They take their fields, labels, choices and current values from the models, but leave the
model's own checks (`full_clean`: uniqueness, constraints) to the service each view calls,
which runs them once, with messages that say what to do, whoever calls it (the web, the API, a
command); its refusal is shown on the field it names (`add_service_error`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.db.models import Model, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from conveyor.accounts.models import Holiday, Role, SalesPlan, Team, User
from conveyor.accounts.selectors import managed_teams, managed_users
from conveyor.analytics.models import Expense
from conveyor.automation.models import (
    Action,
    AutomationRule,
    BodyFormat,
    EmailTemplate,
    WebhookEndpoint,
    WebhookEvent,
)
from conveyor.core.errors import ServiceError
from conveyor.intake.models import (
    LeadForm,
    QualificationQuestion,
    QuestionKind,
    RoutingRule,
)
from conveyor.pipelines.models import LossReason, Pipeline, Process, Segment, Stage
from conveyor.pipelines.playbooks import playbook_clean, playbook_items
from conveyor.touches.models import Cadence, CadenceStep, Channel, TouchKind
from conveyor.web.forms import StageChoiceField, StagesChoiceField


class SettingsForm(forms.ModelForm[Any]):
    """A ModelForm that only parses: see the module's docstring."""

    def _post_clean(self) -> None:
        # Django would copy the values onto the instance and run the model's checks here; the
        # service does both (and the instance shown on the page stays as it is stored).
        return None


def _open_stages(*, keep: QuerySet[Stage] | None = None) -> QuerySet[Stage]:
    """Stages one may pick: the open ones, plus those already picked (`keep`), so saving an
    unrelated change never drops a stage archived since."""
    wanted = Q(is_archived=False)
    if keep is not None:
        wanted |= Q(pk__in=keep.values("pk"))
    return (
        Stage.objects.filter(wanted)
        .select_related("pipeline")
        .order_by("pipeline__name", "position", "pk")
    )


# --- The sales process --------------------------------------------------------------------------


class SegmentForm(SettingsForm):
    class Meta:
        model = Segment
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class PipelineForm(SettingsForm):
    class Meta:
        model = Pipeline
        fields = ["name", "segment", "process", "is_active"]
        help_texts = {
            "is_active": _("A switched-off pipeline takes no new deals; the deals in it go on."),
        }


class StageForm(SettingsForm):
    """A stage's settings; the probability is typed as a percentage and the playbook as lines."""

    probability = forms.DecimalField(
        label=_("Probability, %"),
        min_value=Decimal(0),
        max_value=Decimal(100),
        decimal_places=2,
        initial=Decimal(0),
        help_text=_("How likely a deal at this stage is won (the forecast weighs by it)."),
    )
    playbook = forms.CharField(
        label=_("Playbook checklist"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("One item per line; start a line with ! to make the item mandatory."),
    )
    field_order = [
        "name",
        "exit_criterion",
        "target_action",
        "probability",
        "rot_days",
        "is_key_meeting",
        "is_archived",
        "script",
        "playbook",
    ]

    class Meta:
        model = Stage
        fields = [
            "name",
            "exit_criterion",
            "target_action",
            "rot_days",
            "is_key_meeting",
            "is_archived",
            "script",
        ]
        widgets = {"script": forms.Textarea(attrs={"rows": 4})}
        help_texts = {
            "rot_days": _("A deal longer than this in the stage is rotting; empty: never."),
            "is_archived": _(
                "An archived stage takes no deals and leaves the board; its history stays."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["probability"] = (self.instance.probability * 100).normalize()
            self.initial["playbook"] = "\n".join(
                ("!" if item.mandatory else "") + item.text
                for item in playbook_items(self.instance)
            )

    def clean_probability(self) -> Decimal:
        return Decimal(self.cleaned_data["probability"]) / 100

    def clean_playbook(self) -> str:
        text: str = self.cleaned_data["playbook"]
        try:
            playbook_clean(text)
        except ServiceError as error:
            raise forms.ValidationError(error.message) from None
        return text


class StageOrderForm(forms.Form):
    """The open stages' new order: a number per stage, or one stage moved up or down a place."""

    up = forms.IntegerField(required=False, widget=forms.HiddenInput)
    down = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, stages: list[Stage], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stages = [stage for stage in stages if not stage.is_archived]
        for number, stage in enumerate(self.stages, start=1):
            self.fields[f"order_{stage.pk}"] = forms.IntegerField(
                label=stage.name, min_value=1, initial=number, required=False
            )

    def stage_ids(self) -> list[int]:
        """The stage ids in their new order (typed numbers first, ties in the current order)."""
        data = self.cleaned_data
        ids = [stage.pk for stage in self.stages]
        for direction, step in (("up", -1), ("down", 1)):
            moved = data.get(direction)
            if moved in ids:
                at = ids.index(moved)
                other = at + step
                if 0 <= other < len(ids):
                    ids[at], ids[other] = ids[other], ids[at]
                return ids
        typed = {pk: data.get(f"order_{pk}") or index for index, pk in enumerate(ids, start=1)}
        return sorted(ids, key=lambda pk: (typed[pk], ids.index(pk)))


class LossReasonForm(SettingsForm):
    stages = StagesChoiceField(
        queryset=Stage.objects.none(),
        label=_("Only at stages"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("Empty: at every stage. Stages of the reason's own pipeline only."),
    )

    class Meta:
        model = LossReason
        fields = ["name", "pipeline", "stages", "is_active"]
        help_texts = {
            "pipeline": _("Empty: offered in every pipeline."),
            "is_active": _("A switched-off reason is no longer offered; lost deals keep it."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        keep = self.instance.stages.all() if self.instance.pk is not None else None
        self.fields["stages"].queryset = _open_stages(keep=keep)  # type: ignore[attr-defined]


# --- Qualification and routing ------------------------------------------------------------------

_POINTS = re.compile(r"^(?P<answer>.*?)\s*=\s*(?P<points>[+-]?\d+)$")
_BAND = re.compile(
    r"^(?P<low>[+-]?\d+(?:[.,]\d+)?)\s*\.\.\s*(?P<high>[+-]?\d+(?:[.,]\d+)?)"
    r"\s*=\s*(?P<points>[+-]?\d+)$"
)


def _number(text: str) -> int | float:
    value = float(text.replace(",", "."))
    return int(value) if value.is_integer() else value


def scoring_parse(kind: str, text: str) -> tuple[list[str], Any]:
    """The "answers and points" box of a question as `question_save` takes it: per line,
    `option = points` for choices (an option without points scores 0), `yes = 5` / `no = 0`,
    `min..max = points` bands for numbers, `answered = points` for text."""
    options: list[str] = []
    table: dict[str, int] = {}
    bands: list[list[int | float]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if kind == QuestionKind.NUMBER:
            band = _BAND.match(line)
            if band is None:
                raise forms.ValidationError(
                    _("Write each band as min..max = points, e.g. 10..49 = 5: %(line)s"),
                    params={"line": line},
                )
            bands.append([_number(band["low"]), _number(band["high"]), int(band["points"])])
            continue
        scored = _POINTS.match(line)
        answer, points = (scored["answer"].strip(), int(scored["points"])) if scored else (line, 0)
        if kind == QuestionKind.CHOICE:
            options.append(answer)
            if scored:
                table[answer] = points
        elif scored is None:
            raise forms.ValidationError(
                _("Write each line as answer = points: %(line)s"), params={"line": line}
            )
        else:
            table[answer.lower()] = points
    return options, (bands if kind == QuestionKind.NUMBER else table)


def scoring_text(question: QualificationQuestion) -> str:
    """A question's options and scoring as the box shows them (the reverse of scoring_parse)."""
    scoring = question.scoring
    if question.kind == QuestionKind.NUMBER:
        bands = scoring if isinstance(scoring, list) else []
        return "\n".join(f"{low}..{high} = {points}" for low, high, points in bands)
    table = scoring if isinstance(scoring, dict) else {}
    if question.kind == QuestionKind.CHOICE:
        return "\n".join(
            f"{option} = {table[option]}" if option in table else option
            for option in question.shown_options()
        )
    return "\n".join(f"{answer} = {points}" for answer, points in table.items())


class QuestionForm(SettingsForm):
    position = forms.IntegerField(
        label=_("Position"),
        min_value=1,
        required=False,
        help_text=_("Empty: after the segment's last question."),
    )
    scoring = forms.CharField(
        label=_("Answers and points"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_(
            "One per line. Choice: an option, or option = points. Yes / no: yes = 5 and "
            "no = 0. Number: min..max = points. Text: answered = points."
        ),
    )
    field_order = ["segment", "position", "text", "kind", "scoring", "is_required"]

    class Meta:
        model = QualificationQuestion
        fields = ["segment", "text", "kind", "is_required"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["position"] = self.instance.position
            self.initial["scoring"] = scoring_text(self.instance)
            # A question stays in its segment (its answers and rules are that segment's).
            self.fields["segment"].disabled = True

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "kind" in data and "scoring" in data:
            try:
                data["options"], data["scoring"] = scoring_parse(data["kind"], data["scoring"])
            except forms.ValidationError as error:
                self.add_error("scoring", error)
        return data


class RoutingRuleForm(SettingsForm):
    class Meta:
        model = RoutingRule
        fields = [
            "name",
            "position",
            "is_active",
            "segment",
            "form",
            "source",
            "min_score",
            "question",
            "answer",
            "pipeline",
            "owner_strategy",
            "team",
            "fixed_owner",
            "auto_accept",
        ]
        help_texts = {
            "position": _("Rules are tried in this order; the first that matches wins."),
            "form": _("Leads from this web form only; empty means any."),
            "source": _("Leads with this source only; empty means any."),
            "min_score": _("Leads with at least this qualification score only."),
            "team": _("For round robin and fewest open deals."),
            "fixed_owner": _("For a fixed manager."),
        }

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields = self.fields
        fields["form"].queryset = LeadForm.objects.order_by("name")  # type: ignore[attr-defined]
        fields["question"].queryset = QualificationQuestion.objects.select_related(  # type: ignore[attr-defined]
            "segment"
        ).order_by("segment__name", "position")
        current = self.instance.pipeline_id if self.instance.pk is not None else None
        fields["pipeline"].queryset = Pipeline.objects.filter(  # type: ignore[attr-defined]
            Q(process=Process.CONVERSION, is_active=True) | Q(pk=current)
        ).order_by("name")
        fields["team"].queryset = managed_teams(actor)  # type: ignore[attr-defined]
        fields["fixed_owner"].queryset = managed_users(actor).filter(is_active=True)  # type: ignore[attr-defined]


# --- Cadences and automation --------------------------------------------------------------------


class CadenceForm(SettingsForm):
    stages = StagesChoiceField(
        queryset=Stage.objects.none(),
        label=_("Stages"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("A deal entering one of these stages gets the cadence's steps as tasks."),
    )

    class Meta:
        model = Cadence
        fields = ["name", "description", "stages", "warming_per_closing", "is_default"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        help_texts = {
            "is_default": _(
                "The rhythm deals without a running cadence are held to (one cadence at most)."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        keep = self.instance.stages.all() if self.instance.pk is not None else None
        self.fields["stages"].queryset = _open_stages(keep=keep)  # type: ignore[attr-defined]


class CadenceStepForm(SettingsForm):
    position = forms.IntegerField(
        label=_("Step"),
        min_value=1,
        required=False,
        help_text=_("Empty: after the last step."),
    )
    field_order = ["position", "day_offset", "kind", "channel", "script"]

    class Meta:
        model = CadenceStep
        fields = ["day_offset", "kind", "channel", "script"]
        labels = {"day_offset": _("Working day")}
        help_texts = {
            "day_offset": _("Working days after the deal enters the stage (0: the same day)."),
        }
        widgets = {"script": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["position"] = self.instance.position


class RuleForm(SettingsForm):
    """A rule and, in one form, the parameters of every action; only the chosen action's are
    kept (`params`)."""

    stage = StageChoiceField(
        queryset=Stage.objects.none(),
        label=_("Stage"),
        required=False,
        help_text=_("Empty: any stage of the pipeline. Must be a stage of the rule's pipeline."),
    )
    title = forms.CharField(label=_("Task title"), max_length=200, required=False)
    kind = forms.ChoiceField(label=_("Task kind"), choices=TouchKind.choices, required=False)
    channel = forms.ChoiceField(label=_("Task channel"), choices=Channel.choices, required=False)
    due_in_days = forms.IntegerField(
        label=_("Task due in working days"), min_value=0, required=False
    )
    cadence_id = forms.ModelChoiceField(
        queryset=Cadence.objects.order_by("name"), label=_("Cadence"), required=False
    )
    pipeline_id = forms.ModelChoiceField(
        queryset=Pipeline.objects.filter(is_active=True).order_by("name"),
        label=_("Target pipeline"),
        required=False,
    )
    stage_id = StageChoiceField(
        queryset=Stage.objects.none(),
        label=_("Target stage"),
        required=False,
        help_text=_("Empty: the target pipeline's first stage."),
    )
    user_id = forms.ModelChoiceField(
        queryset=User.objects.none(), label=_("New owner"), required=False
    )
    template_id = forms.ModelChoiceField(
        queryset=EmailTemplate.objects.filter(is_active=True).order_by("name"),
        label=_("E-mail template"),
        required=False,
    )
    endpoint_id = forms.ModelChoiceField(
        queryset=WebhookEndpoint.objects.filter(is_active=True).order_by("name"),
        label=_("Webhook"),
        required=False,
    )

    # Which parameter fields each action reads (engine.py), for the page's grouping too.
    ACTION_FIELDS: dict[str, tuple[str, ...]] = {
        Action.CREATE_TASK: ("title", "kind", "channel", "due_in_days"),
        Action.START_CADENCE: ("cadence_id",),
        Action.MOVE_TO_PIPELINE: ("pipeline_id", "stage_id"),
        Action.COPY_TO_PIPELINE: ("pipeline_id", "stage_id"),
        Action.ASSIGN_OWNER: ("user_id",),
        Action.SEND_EMAIL: ("template_id",),
        Action.CALL_WEBHOOK: ("endpoint_id",),
    }

    class Meta:
        model = AutomationRule
        fields = [
            "name",
            "pipeline",
            "stage",
            "trigger",
            "delay_days",
            "action",
            "is_active",
            "position",
        ]

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rule = self.instance
        stages = Stage.objects.select_related("pipeline").order_by("pipeline__name", "position")
        self.fields["stage"].queryset = stages  # type: ignore[attr-defined]
        self.fields["stage_id"].queryset = stages.filter(is_archived=False)  # type: ignore[attr-defined]
        self.fields["user_id"].queryset = managed_users(actor).filter(is_active=True)  # type: ignore[attr-defined]
        if rule.pk is not None:
            self.initial.update(rule.params or {})

    def rule_fields(self) -> list[forms.BoundField]:
        """The rule's own fields, for the page (the parameters follow in `param_groups`)."""
        return [self[name] for name in self._meta.fields or ()]

    PARAM_GROUPS: tuple[tuple[Any, tuple[str, ...]], ...] = (
        (Action.CREATE_TASK.label, ACTION_FIELDS[Action.CREATE_TASK]),
        (Action.START_CADENCE.label, ACTION_FIELDS[Action.START_CADENCE]),
        (_("Move or copy to another pipeline"), ACTION_FIELDS[Action.MOVE_TO_PIPELINE]),
        (Action.ASSIGN_OWNER.label, ACTION_FIELDS[Action.ASSIGN_OWNER]),
        (Action.SEND_EMAIL.label, ACTION_FIELDS[Action.SEND_EMAIL]),
        (Action.CALL_WEBHOOK.label, ACTION_FIELDS[Action.CALL_WEBHOOK]),
    )

    def param_groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The parameter fields under the action(s) they belong to, for the page."""
        return [(str(label), [self[name] for name in names]) for label, names in self.PARAM_GROUPS]

    def params(self) -> dict[str, Any]:
        """The chosen action's parameters, records as their ids."""
        data = self.cleaned_data
        params: dict[str, Any] = {}
        for name in self.ACTION_FIELDS.get(data.get("action", ""), ()):
            value = data.get(name)
            if isinstance(value, Model):
                value = value.pk
            if value not in (None, ""):
                params[name] = value
        return params


# --- People, plans and money --------------------------------------------------------------------


class UserForm(SettingsForm):
    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("The browser's language")), *settings.LANGUAGES],
    )
    field_order = ["email", "name", "password", "role", "team", "capacity", "language", "is_active"]

    class Meta:
        model = User
        fields = ["email", "name", "role", "team", "capacity", "is_active"]
        help_texts = {
            "is_active": _("A switched-off user cannot log in; their records stay theirs."),
        }

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = self.instance
        self.fields["team"].queryset = managed_teams(actor)  # type: ignore[attr-defined]
        if user.pk is not None:
            self.initial["language"] = user.language
            self.fields["password"].help_text = _("Empty: the password stays as it is.")
        else:
            self.fields["password"].required = True
        if actor.role != Role.OWNER:
            # Only the owner makes owners and heads; a head keeps their own role.
            allowed = {Role.MANAGER.value, user.role if user.pk is not None else Role.MANAGER}
            self.fields["role"].choices = [  # type: ignore[attr-defined]
                (value, label) for value, label in Role.choices if value in allowed
            ]


class TeamForm(SettingsForm):
    class Meta:
        model = Team
        fields = ["name", "head"]

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        heads = User.objects.filter(is_active=True, role__in=[Role.OWNER, Role.HEAD])
        if actor.role != Role.OWNER:
            heads = heads.filter(pk=actor.pk)
            self.initial.setdefault("head", actor.pk)
        self.fields["head"].queryset = heads.order_by("name", "email")  # type: ignore[attr-defined]


class MonthInput(forms.DateInput):
    input_type = "month"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m")


class SalesPlanForm(SettingsForm):
    month = forms.DateField(
        label=_("Month"),
        input_formats=["%Y-%m", "%Y-%m-%d"],
        widget=MonthInput(),
        help_text=_("As YYYY-MM."),
    )
    field_order = ["user", "team", "month", "revenue", "deals"]

    class Meta:
        model = SalesPlan
        fields = ["user", "team", "revenue", "deals"]
        help_texts = {"user": _("A user or a team, not both.")}

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["month"] = self.instance.month
        self.fields["user"].queryset = managed_users(actor).filter(is_active=True)  # type: ignore[attr-defined]
        self.fields["team"].queryset = managed_teams(actor)  # type: ignore[attr-defined]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")


class ExpenseForm(SettingsForm):
    class Meta:
        model = Expense
        fields = ["channel", "period_start", "period_end", "amount", "note"]
        widgets = {"period_start": DateInput(), "period_end": DateInput()}
        help_texts = {
            "channel": _(
                "Exactly as people's source is written (e.g. google_ads): the costs report "
                "divides the spend by the leads and customers of that source."
            ),
        }


class HolidayForm(SettingsForm):
    class Meta:
        model = Holiday
        fields = ["date", "name"]
        widgets = {"date": DateInput()}
        help_texts = {
            "date": _(
                "Tasks planned from now on skip it, like a weekend day; tasks already planned "
                "keep their dates."
            ),
        }


# --- E-mail templates and webhooks ---------------------------------------------------------------


class EmailTemplateForm(SettingsForm):
    """A template's name and, per language of the installation, its subject, format and text.
    A language left empty has no text (the client gets another language's)."""

    class Meta:
        model = EmailTemplate
        fields = ["name", "is_active"]
        help_texts = {
            "is_active": _("Automation rules can send only active templates."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        template = self.instance
        saved = {text.language: text for text in template.texts.all()} if template.pk else {}
        for code, _name in settings.LANGUAGES:
            self.fields[f"subject_{code}"] = forms.CharField(
                label=_("Subject"), max_length=200, required=False
            )
            self.fields[f"format_{code}"] = forms.ChoiceField(
                label=_("Format"), choices=BodyFormat.choices, initial=BodyFormat.TEXT
            )
            self.fields[f"body_{code}"] = forms.CharField(
                label=_("Text"),
                required=False,
                widget=forms.Textarea(attrs={"rows": 8}),
                help_text=_(
                    "Variables: {{ person.name }}, {{ person.first_name }}, {{ deal.title }}, "
                    "{{ deal.amount }}, {{ manager.name }}. A formatted text may use paragraphs, "
                    "bold, italics, lists and links; anything else is removed when saved."
                ),
            )
            text = saved.get(code)
            if text is not None:
                self.initial[f"subject_{code}"] = text.subject
                self.initial[f"format_{code}"] = text.format
                self.initial[f"body_{code}"] = text.body

    def language_groups(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        """(code, language name, its fields), for the page."""
        return [
            (code, str(name), [self[f"{part}_{code}"] for part in ("subject", "format", "body")])
            for code, name in settings.LANGUAGES
        ]

    def texts(self) -> dict[str, tuple[str, str]]:
        """{language: (subject, text)} of the languages written in (either box filled)."""
        data = self.cleaned_data
        return {
            code: (data[f"subject_{code}"], data[f"body_{code}"])
            for code, _name in settings.LANGUAGES
            if data.get(f"subject_{code}", "").strip() or data.get(f"body_{code}", "").strip()
        }

    def formats(self) -> dict[str, str]:
        return {code: self.cleaned_data[f"format_{code}"] for code, _name in settings.LANGUAGES}


class WebhookForm(SettingsForm):
    """An endpoint's name, address, events and switch; its secret is made and shown by the
    page, never typed or shown back in a form."""

    # A plain text box: the service checks the address (format and the SSRF guard) and says
    # what is wrong with it on this field.
    url = forms.CharField(
        label=_("URL"),
        max_length=500,
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
        help_text=_(
            "Where the events are POSTed. Addresses inside your network (private, local, "
            "reserved) are refused."
        ),
    )
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=WebhookEvent.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "None ticked: every event. Time-based triggers (no touch, task overdue, rotting) "
            "reach a webhook through an automation rule's “Call an outgoing webhook” action."
        ),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "events", "is_active"]
        help_texts = {"is_active": _("A switched-off webhook is not called.")}
