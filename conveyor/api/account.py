"""`/api/v1/me`: the caller's own account, as the web's Account pages and agenda offer it: who
they are, their interface language, their API tokens and their calendar feed address.

The password and two-factor login stay in the web app on purpose: a token is a credential of
its own, and one that could change the password or switch off two-factor login would turn a
leaked token into a taken-over account.
"""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers
from ninja import Field, Router, Schema, Status

from conveyor.accounts.models import ApiToken, User
from conveyor.accounts.selectors import tokens_of
from conveyor.accounts.services import token_create, token_revoke, user_language_set
from conveyor.api.auth import api_token, api_user
from conveyor.api.types import BodyIn, Id, IsoDatetime, PatchIn, Text, fields_sent, unsent
from conveyor.touches.selectors import calendar_feed_url
from conveyor.touches.services import calendar_key_reset

router = Router()

SHOWN_ONCE = "The token itself: answered by this call only, never again (only its hash is kept)."


class MeOut(Schema):
    id: int
    email: str
    name: str
    role: str
    team_id: int | None
    language: str = Field(description="The interface language; empty: the browser's.")
    has_calendar_feed: bool

    @staticmethod
    def resolve_has_calendar_feed(user: User) -> bool:
        return bool(user.calendar_key)


class MePatch(PatchIn):
    language: Text = unsent(
        max_length=10,
        description="The interface language (`en`, `ru`, `bg`); empty: the browser's.",
    )


@router.get("", response=MeOut, summary="Who I am")
def me(request: HttpRequest) -> User:
    return api_user(request)


@router.patch("", response=MeOut, summary="Change my interface language")
def me_change(request: HttpRequest, payload: MePatch) -> User:
    user = api_user(request)
    sent = fields_sent(payload)
    if "language" in sent:
        user = user_language_set(user_id=user.pk, language=sent["language"])
    return user


# --- API tokens ----------------------------------------------------------------------------------


class TokenOut(Schema):
    id: int
    name: str
    kind: str
    scopes: list[str]
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    created_at: IsoDatetime
    last_used_at: IsoDatetime | None
    expires_at: IsoDatetime | None
    revoked_at: IsoDatetime | None


class NewTokenOut(TokenOut):
    token: str = Field(description=SHOWN_ONCE)


Scope = Literal["read", "write", "intake"]


def _read_write() -> list[Scope]:
    return ["read", "write"]


class TokenIn(BodyIn):
    name: Text = Field(..., min_length=1, max_length=120)
    kind: Literal["personal", "integration"] = "personal"
    scopes: list[Scope] = Field(
        default_factory=_read_write,
        min_length=1,
        description="At most the scopes of the token making it.",
    )
    expires_at: IsoDatetime | None = Field(
        None,
        description="No later than the token making it expires (by default: when it does).",
    )


@router.get("/tokens", response=list[TokenOut], summary="My API tokens, revoked ones too")
def my_tokens(request: HttpRequest) -> list[ApiToken]:
    return list(tokens_of(api_user(request)))


@router.post(
    "/tokens",
    response={201: NewTokenOut},
    summary="Make an API token; answers it, once",
    description=(
        "The new token acts as me, with at most the scopes of the token making it and "
        "expiring no later. The answer is sent with `Cache-Control: no-store` and is never "
        "kept for an `Idempotency-Key` retry."
    ),
)
def my_token_create(
    request: HttpRequest, response: HttpResponse, payload: TokenIn
) -> Status[dict[str, Any]]:
    user = api_user(request)
    made = token_create(
        user=user,
        by=user,
        name=payload.name,
        kind=payload.kind,
        scopes=payload.scopes,
        expires_at=payload.expires_at,
        made_with=api_token(request),
    )
    add_never_cache_headers(response)
    return Status(201, {**TokenOut.from_orm(made.token).model_dump(), "token": made.raw})


@router.post(
    "/tokens/{token_id}/revoke",
    response=TokenOut,
    summary="Revoke one of my API tokens (this one too)",
)
def my_token_revoke(request: HttpRequest, token_id: Id) -> ApiToken:
    user = api_user(request)
    # Only one's own tokens: anyone else's is not found, as on the web's token page.
    token = tokens_of(user).get(pk=token_id)
    return token_revoke(token_id=token.pk, by=user)


# --- Calendar feed -------------------------------------------------------------------------------


class CalendarOut(Schema):
    url: str | None = Field(
        description="My tasks as an iCalendar feed; whoever has the address can read it. "
        "null: none made yet."
    )


def _calendar(request: HttpRequest, response: HttpResponse, user: User) -> dict[str, str | None]:
    # The address is a credential (it opens the feed without a login): keep it out of caches.
    add_never_cache_headers(response)
    return {"url": calendar_feed_url(request, user)}


@router.get("/calendar", response=CalendarOut, summary="My calendar feed address")
def my_calendar(request: HttpRequest, response: HttpResponse) -> dict[str, str | None]:
    return _calendar(request, response, api_user(request))


@router.post(
    "/calendar",
    response=CalendarOut,
    summary="Make a new calendar feed address (the old one stops working)",
)
def my_calendar_reset(request: HttpRequest, response: HttpResponse) -> dict[str, str | None]:
    user = api_user(request)
    calendar_key_reset(user=user)
    return _calendar(request, response, user)
