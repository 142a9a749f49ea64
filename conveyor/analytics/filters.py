"""What every report can be narrowed by: the window, segment, pipeline, team, manager and source,
plus who is asking (a report counts only the records its reader may see).

Reports build their querysets from the `*_q` helpers below, so one filter means the same thing in
every report, on the web page, in the API and in `conveyor report`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from django.db.models import Q

from conveyor.accounts.models import Role, Team, User
from conveyor.accounts.permissions import visible_q
from conveyor.core.timewindow import Window
from conveyor.pipelines.models import Pipeline, Segment


@dataclass(frozen=True)
class ReportFilter:
    """One report request. `date_to` is exclusive (DESIGN §4: windows are `[from, to)` in the
    account's time zone). `viewer` None means no visibility narrowing (the command line)."""

    date_from: dt.date
    date_to: dt.date
    viewer: User | None = None
    segment: Segment | None = None
    pipeline: Pipeline | None = None
    team: Team | None = None
    manager: User | None = None
    source: str = ""

    @property
    def window(self) -> Window:
        return Window(self.date_from, self.date_to)

    def deal_q(self, prefix: str = "") -> Q:
        """Deals (reached through `prefix`, e.g. `deal__` from a touch) matching every filter
        and visible to the viewer."""
        q = Q()
        if self.viewer is not None:
            q &= visible_q(self.viewer, owner_field=f"{prefix}owner")
        if self.pipeline is not None:
            q &= Q(**{f"{prefix}pipeline": self.pipeline})
        if self.segment is not None:
            q &= Q(**{f"{prefix}pipeline__segment": self.segment})
        if self.team is not None:
            q &= Q(**{f"{prefix}owner__team": self.team})
        if self.manager is not None:
            q &= Q(**{f"{prefix}owner": self.manager})
        if self.source:
            q &= Q(**{f"{prefix}person__source": self.source})
        return q

    def stay_q(self) -> Q:
        """`deal_q` seen from the stage changes (through `deal__`) but for the pipeline, which
        `queries.finished_stays` matches on the deal's pipeline kept on each stage change: no
        join to the deals unless another filter needs one."""
        return replace(self, pipeline=None).deal_q("deal__")

    def person_q(self, prefix: str = "") -> Q:
        """People (through `prefix`) matching the filters that apply to a person: owner (team,
        manager, visibility), source, and — for segment and pipeline — having a deal there."""
        q = Q()
        if self.viewer is not None:
            q &= visible_q(self.viewer, owner_field=f"{prefix}owner")
        if self.team is not None:
            q &= Q(**{f"{prefix}owner__team": self.team})
        if self.manager is not None:
            q &= Q(**{f"{prefix}owner": self.manager})
        if self.source:
            q &= Q(**{f"{prefix}source": self.source})
        if self.pipeline is not None:
            q &= Q(**{f"{prefix}deals__pipeline": self.pipeline})
        if self.segment is not None:
            q &= Q(**{f"{prefix}deals__pipeline__segment": self.segment})
        return q

    def user_q(self, prefix: str = "") -> Q:
        """Users (through `prefix`, e.g. `user__` from a touch) the filters select: the manager,
        the team's members, and only those the viewer may see."""
        q = Q()
        if self.viewer is not None:
            if prefix:
                # A user is the "owner" of their own work: the same rule as for deals.
                q &= visible_q(self.viewer, owner_field=prefix.removesuffix("__"))
            else:
                q &= visible_users_q(self.viewer)
        if self.team is not None:
            q &= Q(**{f"{prefix}team": self.team})
        if self.manager is not None:
            q &= Q(**{f"{prefix}pk": self.manager.pk})
        return q

    def touch_q(self) -> Q:
        """Touches the filter selects: made by the users it selects (manager, team, and whom
        the viewer may see), on a deal of its pipeline / segment, with a person of its source."""
        q = self.user_q("user__")
        if self.pipeline is not None:
            q &= Q(deal__pipeline=self.pipeline)
        if self.segment is not None:
            q &= Q(deal__pipeline__segment=self.segment)
        if self.source:
            q &= Q(person__source=self.source)
        return q

    def as_params(self) -> dict[str, str]:
        """The filter as query parameters (links between report pages keep the filter)."""
        params = {"date_from": self.date_from.isoformat(), "date_to": self.date_to.isoformat()}
        for name in ("segment", "pipeline", "team", "manager"):
            value = getattr(self, name)
            if value is not None:
                params[f"{name}_id"] = str(value.pk)
        if self.source:
            params["source"] = self.source
        return params

    def describe(self) -> dict[str, str | None]:
        """The filter as it goes into a report's JSON (names, not ids)."""
        return {
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "segment": self.segment.name if self.segment else None,
            "pipeline": self.pipeline.name if self.pipeline else None,
            "team": self.team.name if self.team else None,
            "manager": self.manager.email if self.manager else None,
            "source": self.source or None,
        }


def visible_users_q(viewer: User) -> Q:
    """The users whose numbers `viewer` may see: visible_q's rule applied to the users
    themselves (the owner everyone, a head their teams and themselves, a manager themselves)."""
    if not viewer.is_active:
        return Q(pk__in=[])
    if viewer.role == Role.OWNER:
        return Q()
    if viewer.role == Role.HEAD:
        return Q(team__head=viewer) | Q(pk=viewer.pk)
    return Q(pk=viewer.pk)
