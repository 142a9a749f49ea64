"""Project-wide pytest fixtures: the base cast (owner, head, manager, outsider) and a pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pytest_django import Settings

from conveyor.accounts.models import Role, User
from conveyor.pipelines.models import Pipeline
from conveyor.testing.factories import TeamFactory, UserFactory, pipeline_with_stages

PASSWORD = "pass-Word-123"


@dataclass
class Cast:
    """Who is who in a test: the owner sees all; the head sees team A; the manager is in team A;
    the outsider is a manager of team B (another head's team)."""

    owner: User
    head: User
    manager: User
    outsider: User
    other_head: User


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Settings) -> None:
    """The production hasher would spend about a second per test on the cast's passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def cast(db: None) -> Cast:
    owner = UserFactory(email="owner@example.com", name="Olga Owner", role=Role.OWNER)
    head = UserFactory(email="head@example.com", name="Hristo Head", role=Role.HEAD)
    other_head = UserFactory(email="head-b@example.com", name="Boris Head", role=Role.HEAD)
    team_a = TeamFactory(name="Team A", head=head)
    team_b = TeamFactory(name="Team B", head=other_head)
    head.team = team_a
    head.save()
    other_head.team = team_b
    other_head.save()
    manager = UserFactory(
        email="manager@example.com", name="Maria Manager", role=Role.MANAGER, team=team_a
    )
    outsider = UserFactory(
        email="outsider@example.com", name="Oleg Outsider", role=Role.MANAGER, team=team_b
    )
    return Cast(owner=owner, head=head, manager=manager, outsider=outsider, other_head=other_head)


@pytest.fixture
def pipeline(db: None) -> Pipeline:
    return pipeline_with_stages()


@pytest.fixture(params=["database", "rq"])
def job_backend(request: pytest.FixtureRequest, settings: Settings) -> str:
    """Run the test once with each background-job backend: the database queue and RQ on Redis."""
    from conveyor.testing.jobs import BACKENDS, RQ_TEST_URL, redis_or_skip

    if request.param == "rq":
        redis_or_skip()
        import redis

        redis.Redis.from_url(RQ_TEST_URL).flushdb()
        settings.RQ_QUEUES = {"default": {"URL": RQ_TEST_URL, "DEFAULT_TIMEOUT": 60}}
    settings.TASKS = {"default": {"BACKEND": BACKENDS[request.param], "QUEUES": ["default"]}}
    return str(request.param)
