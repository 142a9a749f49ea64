"""Fixtures for the deal service tests: a person owned by the manager."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from conveyor.people.models import Person
from conveyor.testing.factories import PersonFactory

if TYPE_CHECKING:
    from conftest import Cast


@pytest.fixture
def person(cast: Cast) -> Person:
    return PersonFactory(owner=cast.manager)
