"""Merging duplicate people: find both, preview what moves, confirm. `person_merge` does the work.

Everyone may use the page within what they may see (a manager merges their own people, a head
their teams', the owner anyone's); people outside that are not listed and cannot be posted.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from conveyor.accounts.models import User
from conveyor.core.errors import ServiceError
from conveyor.people.models import Person
from conveyor.people.selectors import MergePreview, merge_candidates, merge_preview
from conveyor.people.services import person_merge
from conveyor.web.forms import PersonMergeForm
from conveyor.web.views import safe_next


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
