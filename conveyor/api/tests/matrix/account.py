"""Matrix cases for `/me`: everyone signed in has their own account; nobody reaches another's.

Tokens are not among the MODELS compared after a refusal (each call stamps its own token's
`last_used_at`); test_account.py checks that a refused revoke leaves the token working.
"""

from __future__ import annotations

from django.db.models import Model

from conftest import Cast
from conveyor.accounts.services import token_create
from conveyor.api.tests.matrix.base import Cases, World

MODELS: list[type[Model]] = []

MINE = {"owner": 200, "head": 200, "manager": 200, "outsider": 200, "anonymous": 401}
MINE_MADE = {**MINE, "owner": 201, "head": 201, "manager": 201, "outsider": 201}
# The manager's own token: only the manager finds it.
MANAGERS_OWN = {"owner": 404, "head": 404, "manager": 200, "outsider": 404, "anonymous": 401}


def build(cast: Cast, world: World) -> None:
    world.extra["manager_token"] = token_create(user=cast.manager, name="laptop").token


CASES: Cases = {
    "GET /me": (lambda a, w: a.get("/api/v1/me"), MINE),
    "PATCH /me": (lambda a, w: a.patch("/api/v1/me", {"language": "bg"}), MINE),
    "GET /me/tokens": (lambda a, w: a.get("/api/v1/me/tokens"), MINE),
    "POST /me/tokens": (lambda a, w: a.post("/api/v1/me/tokens", {"name": "phone"}), MINE_MADE),
    "POST /me/tokens/{id}/revoke": (
        lambda a, w: a.post(f"/api/v1/me/tokens/{w.extra['manager_token'].pk}/revoke"),
        MANAGERS_OWN,
    ),
    "GET /me/calendar": (lambda a, w: a.get("/api/v1/me/calendar"), MINE),
    "POST /me/calendar": (lambda a, w: a.post("/api/v1/me/calendar"), MINE),
}
