"""What every area of the permission matrix shares: the world of records and the usual answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conveyor.api.tests.conftest import Api
from conveyor.intake.models import Lead
from conveyor.people.models import Company, Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.touches.models import Task

ROLES = ("owner", "head", "manager", "outsider", "anonymous")


@dataclass
class World:
    """The records every case may call on; all belong to the manager (team A). Areas keep
    their own records in `extra`."""

    pipeline: Pipeline
    person: Person
    company: Company
    deal: Deal
    lost: Deal
    task: Task
    lead: Lead
    inbox: Lead
    reason_id: int
    extra: dict[str, Any] = field(default_factory=dict)


Call = Callable[[Api, World], Any]
Cases = dict[str, tuple[Call, dict[str, int]]]

# Records the manager owns: those who may see them, and a 404 for the rest.
OK_ALL = {"owner": 200, "head": 200, "manager": 200, "outsider": 404, "anonymous": 401}
MADE_ALL = {"owner": 201, "head": 201, "manager": 201, "outsider": 404, "anonymous": 401}
LIST_ALL = {"owner": 200, "head": 200, "manager": 200, "outsider": 200, "anonymous": 401}
# Settings: owners and heads of sales change them, everyone else is refused (403), as on the
# web's settings screens (`can_manage_settings`).
SETTINGS_CHANGED = {"owner": 200, "head": 200, "manager": 403, "outsider": 403, "anonymous": 401}
SETTINGS_MADE = {"owner": 201, "head": 201, "manager": 403, "outsider": 403, "anonymous": 401}
