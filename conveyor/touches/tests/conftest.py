"""Fixtures for the touch and task tests: the manager's person and deal."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.tests.support import open_deal
from conveyor.testing.factories import PersonFactory

if TYPE_CHECKING:
    from conftest import Cast


@pytest.fixture
def person(cast: Cast) -> Person:
    return PersonFactory(owner=cast.manager)


@pytest.fixture
def deal(cast: Cast, pipeline: Pipeline, person: Person) -> Deal:
    """An open deal of the manager's, opened through the service."""
    return open_deal(person, pipeline, owner=cast.manager)
