"""The REST API, version 1: `/api/v1/`, schema at `/api/v1/openapi.json`, docs at `/api/v1/docs`.

Routers stay thin: parse, call one service or selector, shape the answer. Errors of every kind
leave in the one JSON shape of `conveyor.api.errors`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, RawPostDataException
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from conveyor.api import (
    account,
    automation,
    catalog,
    crm_import,
    deals,
    intake_settings,
    leads,
    people,
    reports,
    team,
    touches,
)
from conveyor.api.auth import TokenAuth
from conveyor.api.errors import (
    STATUS_CODES,
    ApiError,
    error_response,
    unreadable_body,
    validation_fields,
)
from conveyor.core.errors import ConflictError, PermissionDenied, ServiceError

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}
# What any operation may answer besides its success (see conveyor.api.errors for when).
READ_ERRORS = (401, 403, 404, 422, 429)
WRITE_ERRORS = (400, 401, 403, 404, 409, 422, 429)


class ConveyorApi(NinjaAPI):
    """NinjaAPI whose schema also documents the error answers every operation can give."""

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(*args, **kwargs)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        error = {
            "description": "An error, in the one shape of every error.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for operations in schema["paths"].values():
            for verb, operation in operations.items():
                codes = READ_ERRORS if verb == "get" else WRITE_ERRORS
                for code in codes:
                    operation["responses"].setdefault(code, error)
        return schema


api = ConveyorApi(
    title="Conveyor API",
    version="1",
    description=(
        "The sales conveyor over HTTP. Authenticate with `Authorization: Bearer <token>` "
        "(`conveyor token create --user E`). Every POST accepts an `Idempotency-Key` header. "
        'Errors look like `{"error": {"code": "…", "message": "…", "fields": {…}}}`.'
    ),
    auth=TokenAuth(),
    urls_namespace="api-v1",
)
api.add_router("/leads", leads.router, tags=["leads"])
api.add_router("/people", people.router, tags=["people"])
api.add_router("/companies", people.companies_router, tags=["companies"])
api.add_router("/deals", deals.router, tags=["deals"])
api.add_router("/touches", touches.router, tags=["touches"])
api.add_router("/tasks", touches.tasks_router, tags=["tasks"])
api.add_router("/pipelines", catalog.router, tags=["pipelines"])
api.add_router("/loss-reasons", catalog.reasons_router, tags=["loss reasons"])
api.add_router("/reports", reports.router, tags=["reports"])
# Settings: what the web's settings screens change.
api.add_router("/segments", catalog.segments_router, tags=["segments"])
api.add_router("/stages", catalog.stages_router, tags=["stages"])
api.add_router("/users", team.users_router, tags=["users"])
api.add_router("/teams", team.teams_router, tags=["teams"])
api.add_router("/sales-plans", team.plans_router, tags=["sales plans"])
api.add_router("/expenses", team.expenses_router, tags=["expenses"])
api.add_router("/holidays", team.holidays_router, tags=["holidays"])
api.add_router("/cadences", automation.cadences_router, tags=["cadences"])
api.add_router("/cadence-steps", automation.steps_router, tags=["cadences"])
api.add_router("/automation-rules", automation.rules_router, tags=["automation rules"])
api.add_router("/email-templates", automation.email_templates_router, tags=["e-mail templates"])
api.add_router("/webhooks", automation.webhooks_router, tags=["webhooks"])
api.add_router("/questions", intake_settings.questions_router, tags=["questions"])
api.add_router("/routing-rules", intake_settings.routing_router, tags=["routing rules"])
api.add_router("/lead-forms", intake_settings.forms_router, tags=["lead forms"])
api.add_router("/crm-imports", crm_import.router, tags=["CRM import"])
api.add_router("/me", account.router, tags=["my account"])


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, error: ApiError) -> HttpResponse:
    return error_response(error)


@api.exception_handler(AuthenticationError)
def _not_authenticated(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    response = error_response(
        ApiError(401, _("Send a valid API token: Authorization: Bearer <token>."))
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, error: ValidationError) -> HttpResponse:
    return error_response(
        ApiError(422, _("Some fields are not valid."), fields=validation_fields(error.errors))
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    return error_response(
        ApiError(error.status_code, str(error.message), code=STATUS_CODES.get(error.status_code))
    )


@api.exception_handler(RequestDataTooBig)
def _too_large(request: HttpRequest, error: RequestDataTooBig) -> HttpResponse:
    return error_response(ApiError(413, _("The request body is too large.")))


@api.exception_handler(RawPostDataException)
@api.exception_handler(MultiPartParserError)
def _unreadable_body(request: HttpRequest, error: Exception) -> HttpResponse:
    # A large multipart body is parsed as a stream (for an upload), after which the raw body
    # an operation taking JSON would read is gone; a malformed one cannot be parsed at all.
    return error_response(unreadable_body())


@api.exception_handler(Http404)
@api.exception_handler(ObjectDoesNotExist)
def _not_found(request: HttpRequest, error: Exception) -> HttpResponse:
    # Records the caller may not see look missing too, so ids cannot be probed.
    return error_response(ApiError(404, _("Not found.")))


@api.exception_handler(ConflictError)
def _conflict(request: HttpRequest, error: ConflictError) -> HttpResponse:
    return error_response(ApiError(409, error.message, code="conflict"))


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, error: PermissionDenied) -> HttpResponse:
    # A refusal may name the input it is about (who may not be made the owner, say).
    fields = {error.field: [error.message]} if error.field else None
    return error_response(ApiError(403, error.message, fields=fields))


@api.exception_handler(ServiceError)
def _refused(request: HttpRequest, error: ServiceError) -> HttpResponse:
    fields = {error.field: [error.message]} if error.field else None
    return error_response(ApiError(422, error.message, fields=fields))
