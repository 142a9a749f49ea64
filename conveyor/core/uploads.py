"""No upload larger than the largest file Conveyor takes is ever stored, whoever sends it.

Django parses a `multipart/form-data` body the first time anything reads `request.POST` or
`request.FILES` — the CSRF check, the API's idempotency hash — and streams its files to
temporary files with no size limit of its own. That can happen before the sender is known, so
a stranger could fill the disk. The largest file the app takes is a CRM export
(`CONVEYOR_IMPORT_MAX_BYTES`); a body declaring more than that plus room for the multipart
envelope is refused by its `Content-Length` before anything reads it:

- under `/api/` with `413 too_large`, in the API's one error shape;
- elsewhere its files are read and dropped, never stored (`DropFiles`), and the page
  says what is wrong: the CRM import page checks the declared size first and shows the limit.

Django reads no more than the declared `Content-Length` of a body, so the declared length
bounds what is read.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from conveyor.core.errors import error_body

# Room for the multipart envelope and the other fields around the file itself.
UPLOAD_OVERHEAD = 64 * 1024
API_PREFIX = "/api/"


def declared_file_size(request: HttpRequest) -> int:
    """The most the request's file can hold: its declared length less the envelope's room."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return length - UPLOAD_OVERHEAD


class DropFiles(FileUploadHandler):
    """Skips every file of the body: the parser reads it through and keeps nothing. (An empty
    handler list would not do: Django fills an empty one from FILE_UPLOAD_HANDLERS.)"""

    def new_file(self, *args: object, **kwargs: object) -> None:
        raise SkipFile

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        return None

    def file_complete(self, file_size: int) -> None:
        return None


def size_text(size: int) -> str:
    """A size in bytes as people read it: KB below a megabyte, else MB."""
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


class UploadLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = int(settings.CONVEYOR_IMPORT_MAX_BYTES)
        if request.content_type != "multipart/form-data" or declared_file_size(request) <= limit:
            return self.get_response(request)
        if request.path.startswith(API_PREFIX):
            message = _(
                "The upload is larger than this server takes: files up to %(limit)s "
                "(CONVEYOR_IMPORT_MAX_BYTES)."
            ) % {"limit": size_text(limit)}
            return JsonResponse(error_body("too_large", message), status=413)
        request.upload_handlers = [DropFiles(request)]
        return self.get_response(request)
