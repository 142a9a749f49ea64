"""The OpenAPI document itself: every schema class has a component name of its own.

Ninja files each model under its class name in `components.schemas` and, when two different
classes share a name, silently keeps the last one, so an operation documents another one's
body (this happened with two `MergeIn`s).
"""

from __future__ import annotations

import enum
import typing
from collections import defaultdict
from collections.abc import Iterator

from pydantic import BaseModel

from conveyor.api.v1 import api


def _named_types(annotation: object) -> Iterator[type]:
    """The models and enums an annotation mentions, however deeply (lists, unions...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel | enum.Enum):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _named_types(argument)


def _schema_types() -> set[type]:
    """Every model and enum the API's operations take or answer, nested ones included (ninja's
    own per-operation wrappers left out: they are never components)."""
    wrappers: list[type[BaseModel]] = []
    for _prefix, router in api._routers:
        for path_operation in router.path_operations.values():
            for operation in path_operation.operations:
                wrappers.extend(operation.models)
                # A status without a body (204) has None for its model.
                wrappers.extend(
                    model for model in operation.response_models.values() if model is not None
                )
    found: set[type] = set()
    pending = [
        named
        for wrapper in wrappers
        for field in wrapper.model_fields.values()
        for named in _named_types(field.annotation)
    ]
    while pending:
        current = pending.pop()
        if current in found:
            continue
        found.add(current)
        if issubclass(current, BaseModel):
            for field in current.model_fields.values():
                pending.extend(_named_types(field.annotation))
    return found


def test_no_two_schema_classes_share_a_component_name() -> None:
    by_name: dict[str, set[str]] = defaultdict(set)
    for named in _schema_types():
        by_name[named.__name__].add(f"{named.__module__}.{named.__qualname__}")
    clashes = {name: sorted(paths) for name, paths in by_name.items() if len(paths) > 1}
    assert clashes == {}, f"Give these classes names of their own: {clashes}"


def test_the_classes_looked_at_are_the_schema_components() -> None:
    # Guards the test above against looking at nothing: every component of the document (bar
    # the error shape the API adds itself) is one of the classes it compares.
    components = set(api.get_openapi_schema()["components"]["schemas"]) - {"Error"}
    assert components
    assert components <= {named.__name__ for named in _schema_types()}
