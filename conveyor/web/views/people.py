"""People: the person page (details edited in place, deals, purchases, leads, referrals, one
timeline, touch logging, personal data, history) and merging duplicates.

Every person is fetched through the access rule (`people_for`): a manager works with their own
people, a head with their teams', the owner with anyone's; others look missing (404). The
services do the work: `person_update`, `touch_log`, `person_link_referral`, `person_merge`
(erasing and exports are `privacy`'s). Editing in place works as `inplace` describes.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from conveyor.accounts.models import User
from conveyor.analytics.selectors import managers_for
from conveyor.core.errors import ServiceError
from conveyor.core.fields import max_length
from conveyor.core.selectors import audit_history
from conveyor.intake.selectors import person_leads
from conveyor.people.models import Company, Person, Temperature
from conveyor.people.selectors import (
    MergePreview,
    merge_candidates,
    merge_preview,
    people_for,
    person_for,
    person_referrals,
)
from conveyor.people.services import (
    can_erase_person,
    person_link_referral,
    person_merge,
    person_update,
)
from conveyor.pipelines.models import Deal, DealStatus
from conveyor.pipelines.selectors import (
    deals_for,
    lifecycle_from,
    lifecycle_of,
    people_with_lifecycle,
)
from conveyor.touches.selectors import person_timeline, with_next_task
from conveyor.touches.services import touch_log
from conveyor.web.forms import PersonMergeForm, TouchForm, add_service_error
from conveyor.web.views import privacy, safe_next
from conveyor.web.views.deals import outcome_offer
from conveyor.web.views.inplace import (
    InPlaceField,
    inplace_error,
    inplace_fields,
    inplace_response,
    wants_fragment,
)


def _preview(user: User, form: PersonMergeForm) -> MergePreview | None:
    """The preview of the picked pair, fetched within what `user` may see; None (with the
    reason on the form) when the pair is incomplete or not theirs."""
    if not form.is_valid():
        return None
    keep_id, drop_id = form.cleaned_data["keep"], form.cleaned_data["drop"]
    if not keep_id or not drop_id:
        return None
    try:
        return merge_preview(user, keep_id=keep_id, drop_id=drop_id)
    except Person.DoesNotExist:
        form.add_error(None, _("One of these people does not exist or is not yours to see."))
        return None


def _next(request: HttpRequest, form: PersonMergeForm, keep: Person) -> str:
    """Where to go after merging: the page the visitor came from if it is ours, else this page
    showing the kept person with everything they now have."""
    back = safe_next(request, str(form.cleaned_data.get("next", "")))
    return back or f"{reverse('web:person-merge')}?{urlencode({'keep': keep.pk})}"


@login_required
@require_http_methods(["GET", "POST"])
def person_merge_view(request: HttpRequest) -> HttpResponse:
    """GET: search, pick the person to keep and the duplicate, see the preview.
    POST: merge the previewed pair and go back where the visitor came from."""
    user: User = request.user  # type: ignore[assignment]
    posted = request.method == "POST"
    form = PersonMergeForm(request.POST if posted else request.GET)
    preview = _preview(user, form)
    if posted:
        if preview is None:
            if form.is_valid():  # else the form already says what is wrong
                form.add_error(None, _("Pick the person to keep and the duplicate."))
        else:
            try:
                keep = person_merge(keep_id=preview.keep.pk, merge_id=preview.drop.pk, by=user)
            except ServiceError as error:
                form.add_error(None, error.message)
            else:
                messages.success(
                    request,
                    _("%(drop)s (#%(drop_id)s) was merged into %(keep)s (#%(keep_id)s).")
                    % {
                        "drop": preview.drop.name,
                        "drop_id": preview.drop.pk,
                        "keep": keep.name,
                        "keep_id": keep.pk,
                    },
                )
                return redirect(_next(request, form, keep))
    # What was parsed, even when an error was added to the form afterwards.
    data = getattr(form, "cleaned_data", {})
    context = {
        "form": form,
        "query": data.get("q", ""),
        "keep_id": data.get("keep"),
        "drop_id": data.get("drop"),
        "next": data.get("next", ""),
        "candidates": merge_candidates(
            user, query=data.get("q", ""), include=[data.get("keep"), data.get("drop")]
        ),
        "preview": preview,
    }
    return render(request, "web/people/merge.html", context, status=400 if posted else 200)


# --- The person page ------------------------------------------------------------------------------


def _person_or_404(user: User, pk: int) -> Person:
    try:
        return person_for(user, pk)
    except Person.DoesNotExist:
        raise Http404(_("This person does not exist or is not yours to see.")) from None


class PersonTouchForm(forms.Form):
    """A touch logged from the person page on one of their open deals: the deal page's touch
    fields, after the deal."""

    deal = forms.TypedChoiceField(label=gettext_lazy("Deal"), coerce=int)

    def __init__(self, *args: Any, deals: Sequence[Deal], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["deal"].choices = [  # type: ignore[attr-defined]
            (deal.pk, f"{deal} · {deal.pipeline.name} · {deal.stage.name}") for deal in deals
        ]
        for name, field in TouchForm.base_fields.items():
            self.fields[name] = copy.deepcopy(field)


class ReferralForm(forms.Form):
    referred_by = forms.IntegerField(min_value=1)


def _render_person(
    request: HttpRequest,
    person: Person,
    *,
    status: int = 200,
    touch_form: PersonTouchForm | None = None,
    erase_error: str = "",
    referral_error: str = "",
) -> HttpResponse:
    """The person page: details (each editable in place), lifecycle, deals, purchases, leads,
    referrals, one timeline across their deals, touch logging, personal data and history.
    A fixed number of queries however many deals, leads, touches and referrals they have."""
    user: User = request.user  # type: ignore[assignment]
    deals = list(
        with_next_task(deals_for(user).filter(person=person)).order_by("-opened_at", "-pk")
    )
    open_deals = [deal for deal in deals if deal.status == DealStatus.OPEN]
    query = request.GET.get("referrer_q", "").strip()[:200]
    context = {
        "person": person,
        "fields": list(person_fields(user, person).values()),
        "lifecycle": lifecycle_of(person),
        "open_deals": open_deals,
        "purchases": sorted(
            (deal for deal in deals if deal.status == DealStatus.WON),
            key=lambda deal: deal.purchase_number or 0,
        ),
        "lost_deals": [deal for deal in deals if deal.status == DealStatus.LOST],
        "leads": list(person_leads(user, person)),
        "referrals": [
            (referral, lifecycle_from(referral))
            for referral in people_with_lifecycle(person_referrals(user, person))
        ],
        "referrer_query": query,
        "referrer_candidates": [
            candidate
            for candidate in (merge_candidates(user, query=query) if query else [])
            if candidate.pk not in (person.pk, person.referred_by_id)
        ],
        "referral_error": referral_error,
        "timeline": person_timeline(person, user),
        "touch_form": touch_form or PersonTouchForm(deals=open_deals),
        "may_erase": can_erase_person(user, person),
        "erase_error": erase_error,
        "history": audit_history(person),
    }
    return render(request, "web/people/detail.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def person_page(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the person page. POST: its erase form (`privacy.erase_posted`)."""
    person = _person_or_404(request.user, pk)  # type: ignore[arg-type]
    if request.method == "POST":
        erased = privacy.erase_posted(request, person)
        if isinstance(erased, HttpResponse):
            return erased
        return _render_person(request, person, status=400, erase_error=erased)
    return _render_person(request, person)


@login_required
@require_POST
def person_touch(request: HttpRequest, pk: int) -> HttpResponse:
    """Log a touch on one of the person's open deals; a closing touch's outcome then offers
    the move or the loss on that deal's page, as on the deal page."""
    user: User = request.user  # type: ignore[assignment]
    person = _person_or_404(user, pk)
    open_deals = {
        deal.pk: deal for deal in deals_for(user).filter(person=person, status=DealStatus.OPEN)
    }
    form = PersonTouchForm(request.POST, deals=list(open_deals.values()))
    if form.is_valid():
        data = dict(form.cleaned_data)
        deal = open_deals[data.pop("deal")]
        try:
            touch = touch_log(by=user, deal=deal, **data)
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Saved."))
            return outcome_offer(request, deal, touch.outcome) or redirect("web:person", pk=pk)
    return _render_person(request, person, status=400, touch_form=form)


@login_required
@require_POST
def person_referral(request: HttpRequest, pk: int) -> HttpResponse:
    """Record who referred this person (someone the user may see)."""
    user: User = request.user  # type: ignore[assignment]
    person = _person_or_404(user, pk)
    form = ReferralForm(request.POST)
    referrer = None
    if form.is_valid():
        referrer = people_for(user).filter(pk=form.cleaned_data["referred_by"]).first()
    if referrer is None:
        error = _("This person does not exist or is not yours to see.")
    else:
        try:
            person_link_referral(person_id=person.pk, referred_by_id=referrer.pk, by=user)
        except ServiceError as exc:
            error = exc.message
        else:
            messages.success(
                request,
                _("Saved: %(referrer)s referred %(person)s.")
                % {"referrer": referrer.name, "person": person.name},
            )
            return redirect("web:person", pk=pk)
    return _render_person(request, person, status=400, referral_error=error)


# --- Edit in place (see `inplace`) ---------------------------------------------------------------


# Form field -> person_update's argument.
PERSON_EDITABLE = {
    "name": "name",
    "email": "email",
    "phone": "phone",
    "company": "company_name",
    "temperature": "temperature",
    "source": "source",
    "owner": "owner",
}


class PersonEditForm(forms.Form):
    """A person's editable details; `only` keeps one of them (the field edited in place)."""

    name = forms.CharField(label=gettext_lazy("Name"), max_length=max_length(Person, "name"))
    email = forms.CharField(
        label=gettext_lazy("E-mail"), max_length=max_length(Person, "email"), required=False
    )
    phone = forms.CharField(
        label=gettext_lazy("Phone"), max_length=max_length(Person, "phone"), required=False
    )
    company = forms.CharField(
        label=gettext_lazy("Company"), max_length=max_length(Company, "name"), required=False
    )
    temperature = forms.ChoiceField(label=gettext_lazy("Temperature"), choices=Temperature.choices)
    source = forms.CharField(
        label=gettext_lazy("Source"), max_length=max_length(Person, "source"), required=False
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.none(),
        label=pgettext_lazy("person responsible for a deal", "Owner"),
        required=False,
        empty_label=gettext_lazy("Nobody"),
    )

    def __init__(
        self, data: Any = None, *, person: Person, user: User, only: str | None = None
    ) -> None:
        initial = {
            "name": person.name,
            "email": person.email,
            "phone": person.phone,
            "company": person.company.name if person.company else "",
            "temperature": person.temperature,
            "source": person.source,
            "owner": person.owner_id,
        }
        super().__init__(data, initial=initial, auto_id="edit-%s")
        if only is not None:
            self.fields = {only: self.fields[only]}
        if "owner" in self.fields:
            self.fields["owner"].queryset = managers_for(user)  # type: ignore[attr-defined]


def _person_text(person: Person, name: str) -> str:
    if name == "company":
        return person.company.name if person.company else ""
    if name == "temperature":
        return str(person.get_temperature_display())
    if name == "owner":
        return person.owner.get_full_name() if person.owner else ""
    return str(getattr(person, name))


def person_fields(
    user: User, person: Person, *, form: PersonEditForm | None = None, editing: str = ""
) -> dict[str, InPlaceField]:
    """The person's editable fields in page order (see `inplace_fields`)."""
    form = form or PersonEditForm(person=person, user=user)
    return inplace_fields(
        user,
        form,
        names=PERSON_EDITABLE,
        text=lambda name: _person_text(person, name),
        edit_url="web:person-edit",
        pk=person.pk,
        back=reverse("web:person", args=[person.pk]),
        editing=editing,
    )


@login_required
@require_http_methods(["GET", "POST"])
def person_edit(request: HttpRequest, pk: int, field: str) -> HttpResponse:
    """GET: the plain form of one field (the edit link without JavaScript). POST: save it
    through `person_update`; back to the person page, or the field alone for the script."""
    if field not in PERSON_EDITABLE:
        raise Http404
    user: User = request.user  # type: ignore[assignment]
    person = _person_or_404(user, pk)
    posted = request.method == "POST"
    form = PersonEditForm(request.POST if posted else None, person=person, user=user, only=field)
    status = 200
    if posted and form.is_valid():
        try:
            person = person_update(
                person_id=person.pk, by=user, **{PERSON_EDITABLE[field]: form.cleaned_data[field]}
            )
        except ServiceError as error:
            status = inplace_error(form, field, error)
        else:
            if not wants_fragment(request):
                messages.success(request, _("Saved."))
                return redirect("web:person", pk=person.pk)
            form = PersonEditForm(person=person, user=user, only=field)
    elif posted:
        status = 400
    editing = field if status != 200 or not posted else ""
    item = person_fields(user, person, form=form, editing=editing)[field]
    return inplace_response(request, item, record=person.name, status=status)
