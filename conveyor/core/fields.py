"""Reading limits off model fields, so input checks never repeat a number the model holds."""

from __future__ import annotations

from django.db import models


def max_length(model: type[models.Model], name: str) -> int:
    """The `max_length` of `model.name` (a CharField or similar)."""
    length = model._meta.get_field(name).max_length  # type: ignore[union-attr]
    assert isinstance(length, int), f"{model.__name__}.{name} has no max_length"
    return length
