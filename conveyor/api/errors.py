"""Every API error has one JSON shape:

    {"error": {"code": "invalid", "message": "…", "fields": {"phone": ["…"]}}}

`code` is stable and meant for programs; `message` is for people (in the request's language);
`fields` is present when particular inputs are at fault.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from conveyor.core.errors import ServiceError, error_body

STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    """Raised anywhere under the API to answer with `status` and the common error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or STATUS_CODES.get(status, "error")
        self.fields = fields or {}
        self.headers = headers or {}


def error_response(error: ApiError) -> HttpResponse:
    response = JsonResponse(
        error_body(error.code, error.message, error.fields), status=error.status
    )
    for name, value in error.headers.items():
        response[name] = value
    return response


def validation_fields(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Pydantic's error list as {field: [messages]}; the field is the input's dotted path
    without its location ("body.payload.email" -> "email", "query.limit" -> "limit")."""
    fields: dict[str, list[str]] = {}
    for item in errors:
        loc = [str(part) for part in item.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header", "form", "file"):
            loc = loc[1:]
            # A body schema parameter name ("payload") is the second part; drop it too.
            if item.get("loc", ("",))[0] == "body" and len(loc) > 1:
                loc = loc[1:]
        name = ".".join(loc) or "__all__"
        fields.setdefault(name, []).append(str(item.get("msg", _("Invalid value."))))
    return fields


@contextmanager
def fields_as_sent(names: Mapping[str, str]) -> Iterator[None]:
    """A service's refusal names its own input (`team`, `stages`, `people`); the request
    names it as the API does (`team_id`, `stage_ids`, `ids`): rename it on the way out."""
    try:
        yield
    except ServiceError as error:
        if error.field is not None and error.field in names:
            error.field = names[error.field]
        raise


def unreadable_body() -> ApiError:
    """A request body that cannot be read: a malformed multipart body, or a large one parsed
    as an upload stream when the operation wanted its raw JSON."""
    return ApiError(400, _("The request body cannot be read: send what the schema describes."))


M = TypeVar("M", bound=Model)


def chosen(
    choices: QuerySet[M] | type[M], pk: int | None, field: str, message: str | None = None
) -> M | None:
    """The record `pk` names among `choices` (a queryset, or every row of a model), None for
    None. One that is not among them is unknown to the caller: 422 on `field` with `message`
    (by default "Some fields are not valid.")."""
    if pk is None:
        return None
    queryset = choices if isinstance(choices, QuerySet) else choices._default_manager.all()
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise ApiError(
            422, message or _("Some fields are not valid."), fields={field: [_("Not found.")]}
        )
    return found
