"""Reactions of the pipelines app to other apps' signals."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from conveyor.people.models import Person
from conveyor.people.signals import person_merged
from conveyor.pipelines.services import purchases_renumber


@receiver(person_merged, dispatch_uid="pipelines.renumber_after_merge")
def renumber_after_merge(sender: object, *, keep: Person, **kwargs: Any) -> None:
    """Both people's won deals now belong to one person: purchase numbers run 1..n again."""
    purchases_renumber(keep.pk)
