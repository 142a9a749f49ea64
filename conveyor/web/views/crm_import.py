"""Settings → Import from another CRM: upload an export, check the preview, import.

1. Upload (`/settings/import/`): the file is stored under CONVEYOR_DATA_DIR/imports with a
   random name; the session remembers it for this user only (a token in the URL that is not
   in the user's session is a 404, and no path ever comes from the browser).
2. Preview (`/settings/import/<token>/`): detected encoding and delimiter, the column mapping
   (a select per field, pre-filled from the CRM's profile), the first rows, what would be
   created, linked as a duplicate or refused, and what is missing. "Update the preview" keeps
   the choices; "Import" runs the import with them, in one transaction.
3. Done (`/settings/import/<token>/done/`): what was written, and the report of rejected rows
   when some were skipped (`/settings/import/<token>/report/`).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as HttpForbidden
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from conveyor.accounts.models import User
from conveyor.accounts.permissions import can_manage_settings
from conveyor.core.errors import ServiceError
from conveyor.core.uploads import declared_file_size
from conveyor.intake.crm_import.planning import PERSON_EXISTING, Plan
from conveyor.intake.crm_import.profiles import FIELD_LABELS, PROFILES
from conveyor.intake.crm_import.reading import ImportFileError, check_size, read_table_file
from conveyor.intake.crm_import.services import ImportRefused, crm_import_plan, crm_import_run
from conveyor.intake.crm_import.summary import linked_rows, result_summary
from conveyor.web.forms import CrmImportOptionsForm, CrmUploadForm, add_service_error

SESSION_KEY = "crm_imports"
KEEP_UPLOADS = 5  # per session; older uploads are forgotten and their files removed
STALE_SECONDS = 24 * 3600  # files left behind are removed after a day
PREVIEW_ROWS = 5
SHOW_ROWS = 100


def _importer(request: HttpRequest) -> User:
    user: User = request.user  # type: ignore[assignment]
    if not can_manage_settings(user):
        raise HttpForbidden(_("Only owners and heads of sales import from other CRMs."))
    return user


def _folder() -> Path:
    folder = Path(settings.DATA_DIR) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _upload_path(token: str) -> Path:
    return _folder() / f"{token}.csv"


def _report_path(token: str) -> Path:
    return _folder() / f"{token}-rejected.csv"


def _remove_files(token: str) -> None:
    _upload_path(token).unlink(missing_ok=True)
    _report_path(token).unlink(missing_ok=True)


def _sweep() -> None:
    """Remove uploads and reports older than a day; an import takes minutes at most."""
    cutoff = time.time() - STALE_SECONDS
    for path in _folder().glob("*.csv"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except OSError:
            continue


def _entry(request: HttpRequest, user: User, token: str) -> dict[str, Any]:
    """This user's upload named by `token`, else 404."""
    entry = request.session.get(SESSION_KEY, {}).get(token)
    if not isinstance(entry, dict) or entry.get("user") != user.pk:
        raise Http404
    return entry


def _save_entry(request: HttpRequest, token: str, entry: dict[str, Any]) -> None:
    uploads = dict(request.session.get(SESSION_KEY, {}))
    uploads[token] = entry
    while len(uploads) > KEEP_UPLOADS:
        oldest = next(iter(uploads))
        _remove_files(oldest)
        del uploads[oldest]
    request.session[SESSION_KEY] = uploads


@login_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    """Step 1: the file and where it comes from."""
    user = _importer(request)
    if request.method != "POST":
        return render(request, "web/imports/upload.html", {"form": CrmUploadForm()})
    try:
        # An oversize upload is refused by its declared length, before it is read.
        check_size(declared_file_size(request))
    except ImportFileError as error:
        context = {"form": CrmUploadForm(), "error": error.message}
        return render(request, "web/imports/upload.html", context, status=400)
    form = CrmUploadForm(request.POST, request.FILES)
    if form.is_valid():
        token = _store(request, form, user)
        if token is not None:
            return redirect("web:crm-import-preview", token=token)
    return render(request, "web/imports/upload.html", {"form": form}, status=400)


def _store(request: HttpRequest, form: CrmUploadForm, user: User) -> str | None:
    """Keep the upload under a random name once it reads as a CSV table; its token."""
    uploaded = form.cleaned_data["file"]
    try:
        check_size(uploaded.size)
    except ImportFileError as error:
        form.add_error("file", error.message)
        return None
    _sweep()
    token = secrets.token_urlsafe(18)
    path = _upload_path(token)
    with path.open("wb") as handle:
        for chunk in uploaded.chunks():
            handle.write(chunk)
    try:
        read_table_file(path, name=uploaded.name)
    except ImportFileError as error:
        path.unlink(missing_ok=True)
        form.add_error("file", error.message)
        return None
    entry = {
        "user": user.pk,
        "name": str(uploaded.name)[:200],
        "source": form.cleaned_data["source"],
        "options": None,
        "result": None,
    }
    _save_entry(request, token, entry)
    return token


def _options_initial(plan: Plan | None, options: dict[str, Any] | None) -> dict[str, Any]:
    if options is not None:
        initial = {f"map_{key}": column for key, column in options["mapping"].items()}
        initial.update({k: v for k, v in options.items() if k != "mapping"})
        return initial
    if plan is None:
        return {}
    return {f"map_{key}": column for key, column in plan.mapping.items()}


def _plan_kwargs(entry: dict[str, Any], token: str) -> dict[str, Any]:
    options = entry["options"] or {}
    return {
        "path": _upload_path(token),
        "source": entry["source"],
        "file_name": entry["name"],
        "mapping": options.get("mapping"),
        "create_missing": bool(options.get("create_missing")),
        "default_pipeline": options.get("pipeline") or "",
        "default_loss_reason": options.get("default_loss_reason") or "",
    }


@login_required
@require_http_methods(["GET", "POST"])
def preview(request: HttpRequest, token: str) -> HttpResponse:
    """Step 2: the preview and its options; "Import" runs the import."""
    user = _importer(request)
    entry = _entry(request, user, token)
    if entry["result"] is not None:
        return redirect("web:crm-import-done", token=token)
    if not _upload_path(token).exists():
        messages.error(
            request, _("The uploaded file is gone (files are kept for a day): upload it again.")
        )
        return redirect("web:crm-import")
    header = read_table_file(_upload_path(token), name=entry["name"]).header
    form = CrmImportOptionsForm(request.POST or None, header=header)
    error = ""
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            status = 400
        else:
            data = form.cleaned_data
            entry["options"] = {
                "mapping": form.mapping(),
                "pipeline": data["pipeline"],
                "default_loss_reason": data["default_loss_reason"],
                "create_missing": data["create_missing"],
                "skip_bad_rows": data["skip_bad_rows"],
            }
            _save_entry(request, token, entry)
            if request.POST.get("action") != "import":
                return redirect("web:crm-import-preview", token=token)
            try:
                result = crm_import_run(
                    **_plan_kwargs(entry, token),
                    by=user,
                    skip_bad_rows=data["skip_bad_rows"],
                    report_path=_report_path(token),
                )
            except ImportRefused as refused:
                error, status = refused.message, 400
            except ServiceError as refused:
                add_service_error(form, refused)
                status = 400
            else:
                entry["result"] = {**result_summary(result), "report": result.report is not None}
                _save_entry(request, token, entry)
                _upload_path(token).unlink(missing_ok=True)
                return redirect("web:crm-import-done", token=token)
    plan = None
    try:
        plan = crm_import_plan(**_plan_kwargs(entry, token), by=user)
    except ServiceError as problem:
        error = error or problem.message
    if request.method != "POST":
        form = CrmImportOptionsForm(initial=_options_initial(plan, entry["options"]), header=header)
    context = {
        "token": token,
        "entry": entry,
        "source_label": PROFILES[entry["source"]].label,
        "form": form,
        "plan": plan,
        "error": error,
        **(_plan_context(plan) if plan is not None else {}),
    }
    return render(request, "web/imports/preview.html", context, status=status)


def _plan_context(plan: Plan) -> dict[str, Any]:
    mapped = list(plan.mapping.items())
    index = {cell: i for i, cell in reversed(list(enumerate(plan.table.header)))}
    first_rows = [
        [row.cells[index[column]] for _key, column in mapped] for row in plan.rows[:PREVIEW_ROWS]
    ]
    return {
        "mapped_labels": [FIELD_LABELS[key] for key, _column in mapped],
        "first_rows": first_rows,
        "refused": plan.refused[:SHOW_ROWS],
        "refused_hidden": max(plan.counts.refuse - SHOW_ROWS, 0),
        "linked": linked_rows(plan, SHOW_ROWS),
        "person_existing": PERSON_EXISTING,
    }


@login_required
@require_GET
def done(request: HttpRequest, token: str) -> HttpResponse:
    """Step 3: what the import wrote."""
    user = _importer(request)
    entry = _entry(request, user, token)
    if entry["result"] is None:
        return redirect("web:crm-import-preview", token=token)
    return render(request, "web/imports/done.html", {"token": token, "entry": entry})


@login_required
@require_GET
def report(request: HttpRequest, token: str) -> FileResponse:
    """The CSV of the rows an import skipped."""
    user = _importer(request)
    _entry(request, user, token)
    path = _report_path(token)
    if not path.exists():
        raise Http404
    return FileResponse(
        path.open("rb"), as_attachment=True, filename="rejected-rows.csv", content_type="text/csv"
    )
