"""schemathesis against the running API: every operation fuzzed from the OpenAPI schema with
all checks (no server error, documented status codes and bodies, schema-valid input accepted,
schema-invalid input refused), then its stateful phase chaining calls by the ids they return.

Runs over a small demo company so ids resolve. The settings live in schemathesis.toml.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

from conveyor.accounts.models import Role
from conveyor.accounts.services import token_create, user_create
from conveyor.dataset.demo import demo_build

ROOT = Path(__file__).resolve().parents[3]
ST = Path(sys.executable).with_name("st")
EXAMPLES = "8"
# One worker: schemathesis' worker threads make hypothesis call ast.parse concurrently, which
# CPython 3.11 does not survive ("AST constructor recursion depth mismatch");
# and the SQLite test database lives in shared memory, which refuses a second writer at once.
WORKERS = "1"


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_nothing(live_server: LiveServer, settings: Settings) -> None:
    settings.CONVEYOR_API_RATE_PER_MINUTE = 1_000_000
    settings.REDIS_URL = ""
    demo_build(deals=60, seed=3)
    owner = user_create(email="fuzz@example.com", password=None, role=Role.OWNER)
    raw = token_create(user=owner, name="schemathesis").raw
    result = subprocess.run(
        [
            str(ST),
            "--config-file",
            str(ROOT / "schemathesis.toml"),
            "run",
            f"{live_server.url}/api/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {raw}",
            "--checks",
            "all",
            "--max-examples",
            EXAMPLES,
            "--seed",
            "20261123",
            "--no-color",
            "--workers",
            WORKERS,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    summary = result.stdout[-6000:]
    assert result.returncode == 0, (
        f"schemathesis found problems:\n{summary}\n{result.stderr[-2000:]}"
    )
    assert "Stateful" in result.stdout, summary
