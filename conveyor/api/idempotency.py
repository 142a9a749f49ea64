"""`Idempotency-Key` on every API POST: a retry gets the first answer, never a second write.

For 24 hours after a POST with a key, the same caller sending the same key:
- with the same request (method, path, body) gets the stored response again, marked with
  `Idempotent-Replayed: true`;
- with a different request gets 422 `idempotency_key_reused`;
- while the first request still runs gets 409 `in_progress`;
- when the first answer was marked `Cache-Control: no-store` (it held a secret, such as a new
  webhook's signing secret) gets 409 `idempotency_response_not_kept`: the request was done,
  but its answer was never stored, so the secret does not rest in the database for a day and
  is never answered twice. The request is not run again.

The in-flight row is inserted before the view runs, so of two concurrent requests exactly one
runs (the database's unique constraint decides). Responses that say the request never ran
(401, 403, 429, and server errors) are not kept, so the client can fix the cause and retry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.utils.translation import gettext as _

from conveyor.api.errors import ApiError, error_response, unreadable_body
from conveyor.api.models import IdempotencyRecord, IdempotencyState

API_PREFIX = "/api/"
KEEP_FOR = dt.timedelta(hours=24)
# A request still "in flight" after this long died with its process; a retry may take over.
ABANDONED_AFTER = dt.timedelta(minutes=2)
KEY_MAX_LENGTH = 255
NOT_KEPT = (401, 403, 429)


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _not_to_store(response: HttpResponse) -> bool:
    """Whether the answer says it must not be stored (`Cache-Control: no-store`)."""
    directives = response.get("Cache-Control", "").split(",")
    return any(directive.split("=")[0].strip().lower() == "no-store" for directive in directives)


def _body_parts(request: HttpRequest) -> list[bytes]:
    """What identifies the request's body. A multipart upload (a CRM export) is read as its
    fields and files, not its raw bytes: its boundary is random per send, so a retry of the
    same upload must still match, and an upload may be larger than Django lets `request.body`
    hold in memory. The files are streamed to temporary files by Django's parser and hashed
    in chunks; the view reads the same parsed `request.FILES`."""
    if request.content_type != "multipart/form-data":
        return [request.body]
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None or int(request.META.get("CONTENT_LENGTH") or 0) <= limit:
        # Read into memory first, so the raw body stays readable after the parse below.
        request.body  # noqa: B018
    parts: list[bytes] = [b"multipart"]
    for name in sorted(request.POST):
        for value in request.POST.getlist(name):
            parts += [name.encode(), value.encode()]
    for name in sorted(request.FILES):
        for upload in request.FILES.getlist(name):
            digest = hashlib.sha256()
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)
            parts += [name.encode(), (upload.name or "").encode(), digest.digest()]
    return parts


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get("Idempotency-Key")
        authorization = request.headers.get("Authorization")
        if (
            request.method != "POST"
            or key is None
            or not authorization
            or not request.path.startswith(API_PREFIX)
        ):
            return self.get_response(request)
        key = key.strip()
        if not key or len(key) > KEY_MAX_LENGTH:
            return error_response(
                ApiError(
                    422,
                    _("The Idempotency-Key must be 1 to %(limit)d characters.")
                    % {"limit": KEY_MAX_LENGTH},
                    fields={"Idempotency-Key": [_("Invalid length.")]},
                )
            )
        principal = _digest(authorization.encode())
        try:
            body = _body_parts(request)
        except MultiPartParserError:
            return error_response(unreadable_body())
        request_hash = _digest(request.method.encode(), request.get_full_path().encode(), *body)
        record, answer = self._claim(principal, key, request_hash)
        if answer is not None:
            return answer
        assert record is not None
        try:
            response = self.get_response(request)
        except BaseException:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            raise
        if response.status_code >= 500 or response.status_code in NOT_KEPT or response.streaming:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return response
        if _not_to_store(response):
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                state=IdempotencyState.DONE_NOT_KEPT, status_code=response.status_code
            )
            return response
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            state=IdempotencyState.DONE,
            status_code=response.status_code,
            content_type=response.get("Content-Type", ""),
            body=response.content,
        )
        return response

    def _claim(
        self, principal: str, key: str, request_hash: str
    ) -> tuple[IdempotencyRecord | None, HttpResponse | None]:
        """Insert the in-flight row, or say what to answer instead."""
        now = timezone.now()
        for _attempt in range(2):
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        principal=principal, key=key, request_hash=request_hash, created_at=now
                    )
                # The caller's expired records go as it makes new ones, so the table stays small.
                IdempotencyRecord.objects.filter(
                    principal=principal, created_at__lt=now - KEEP_FOR
                ).delete()
                return record, None
            except IntegrityError:
                earlier = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
                if earlier is None:
                    continue  # finished and deleted in between: claim again
                stale = earlier.created_at < now - KEEP_FOR or (
                    earlier.state == IdempotencyState.IN_FLIGHT
                    and earlier.created_at < now - ABANDONED_AFTER
                )
                if stale:
                    IdempotencyRecord.objects.filter(
                        pk=earlier.pk, created_at=earlier.created_at
                    ).delete()
                    continue
                return None, self._answer(earlier, request_hash)
        return None, error_response(
            ApiError(
                409, _("A request with this Idempotency-Key is in progress."), code="in_progress"
            )
        )

    def _answer(self, earlier: IdempotencyRecord, request_hash: str) -> HttpResponse:
        if earlier.request_hash != request_hash:
            return error_response(
                ApiError(
                    422,
                    _(
                        "This Idempotency-Key was already used with a different request; "
                        "use a new key for a new request."
                    ),
                    code="idempotency_key_reused",
                )
            )
        if earlier.state == IdempotencyState.IN_FLIGHT:
            return error_response(
                ApiError(
                    409,
                    _("A request with this Idempotency-Key is in progress."),
                    code="in_progress",
                )
            )
        if earlier.state == IdempotencyState.DONE_NOT_KEPT:
            return error_response(
                ApiError(
                    409,
                    _(
                        "The request with this Idempotency-Key was done, but its answer held "
                        "a secret and was not kept, so it cannot be sent again."
                    ),
                    code="idempotency_response_not_kept",
                )
            )
        response = HttpResponse(
            bytes(earlier.body),
            status=earlier.status_code or 200,
            content_type=earlier.content_type or "application/json",
        )
        response["Idempotent-Replayed"] = "true"
        return response
