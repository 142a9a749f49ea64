"""The one access rule. Every object a request touches is fetched through these helpers.

- owner: everything;
- head: records owned by members of the teams they head, by themselves, or by nobody;
- manager: records they own.
(Sharing a colleague's deal with a manager comes with the security issue.)
"""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, Q, QuerySet
from django.utils.translation import gettext as _

from conveyor.accounts.models import Role, Team, User
from conveyor.core.errors import PermissionDenied, ServiceError

M = TypeVar("M", bound=Model)


def visible_q(user: User, *, owner_field: str = "owner") -> Q:
    """A filter selecting the rows `user` may see, for a model whose owner is `owner_field`."""
    if not user.is_active:
        return Q(pk__in=[])
    if user.role == Role.OWNER:
        return Q()
    if user.role == Role.HEAD:
        return (
            Q(**{f"{owner_field}__team__head": user})
            | Q(**{owner_field: user})
            | Q(**{f"{owner_field}__isnull": True})
        )
    return Q(**{owner_field: user})


def scope(queryset: QuerySet[M], user: User, *, owner_field: str = "owner") -> QuerySet[M]:
    """`queryset` narrowed to what `user` may see."""
    return queryset.filter(visible_q(user, owner_field=owner_field))


def get_for_user(queryset: QuerySet[M], user: User, pk: object, *, owner_field: str = "owner") -> M:
    """Fetch one object by pk, or raise `DoesNotExist` when it is missing *or* not visible.

    Invisible objects look missing on purpose, so ids cannot be probed.
    """
    return scope(queryset, user, owner_field=owner_field).get(pk=pk)


def can_manage_settings(user: User) -> bool:
    """Owners and heads configure the sales process (pipelines, forms, rules); managers do not."""
    return user.is_active and user.role in (Role.OWNER, Role.HEAD)


def require_settings_access(user: User | None, message: str) -> None:
    """Raise PermissionDenied(`message`) unless `user` may configure the sales process;
    `None` (the server operator, from the command line) may."""
    if user is not None and not can_manage_settings(user):
        raise PermissionDenied(message)


def can_manage_users_of(actor: User, owner: User | None) -> bool:
    """May `actor` act on a record owned by `owner` (or assign a record to `owner`)?"""
    if not actor.is_active:
        return False
    if actor.role == Role.OWNER:
        return True
    if owner is None:
        return actor.role == Role.HEAD
    if owner.pk == actor.pk:
        return True
    return (
        actor.role == Role.HEAD
        and owner.team_id is not None
        and (owner.team is not None and owner.team.head_id == actor.pk)
    )


def require_owner_access(actor: User, owner: User | None) -> None:
    """Raise PermissionDenied unless `actor` may act on a record owned by `owner`."""
    if not can_manage_users_of(actor, owner):
        raise PermissionDenied("You do not have access to this record.")


def require_assignable(by: User | None, owner: User, *, field: str = "owner") -> None:
    """Raise unless records may be handed to `owner`: PermissionDenied when `by` may not act on
    `owner`'s records (`by` None, the system, may), ServiceError when `owner` is deactivated."""
    if by is not None and not can_manage_users_of(by, owner):
        raise PermissionDenied(
            _("You may not assign records to %(user)s.") % {"user": owner}, field=field
        )
    if not owner.is_active:
        raise ServiceError(_("This user is deactivated."), field=field)


def can_manage_team(actor: User, team: Team) -> bool:
    """May `actor` act for `team` as a whole (plan for it, route leads to it)? The owner, or
    the team's head."""
    return actor.role == Role.OWNER or team.head_id == actor.pk
