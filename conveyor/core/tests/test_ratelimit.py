from __future__ import annotations

import datetime as dt
import os
import threading
import uuid

import pytest
from django.db import connection, connections
from pytest_django import Settings

from conveyor.core import ratelimit
from conveyor.core.models import RateCounter

NOW = dt.datetime(2026, 3, 2, 10, 0, 5, tzinfo=dt.UTC)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def database_backend(settings: Settings) -> None:
    settings.REDIS_URL = ""


@pytest.fixture
def redis_backend(settings: Settings) -> None:
    try:
        ratelimit._redis_client(REDIS_URL).ping()
    except Exception as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis at {REDIS_URL} is unreachable ({error}); CI runs this test")
    settings.REDIS_URL = REDIS_URL


@pytest.mark.django_db
@pytest.mark.usefixtures("database_backend")
def test_database_counts_within_a_window_and_starts_over_in_the_next() -> None:
    key = "test:window"
    assert [ratelimit.hit(key, limit=2, window_seconds=60, now=NOW) for _ in range(3)] == [
        True,
        True,
        False,
    ]
    later = NOW + dt.timedelta(seconds=60)
    assert ratelimit.hit(key, limit=2, window_seconds=60, now=later)
    # The finished window's row is cleared when the next one starts.
    assert list(RateCounter.objects.filter(key=key).values_list("count", flat=True)) == [1]
    assert ratelimit.hit("test:other", limit=1, window_seconds=60, now=NOW)


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite takes one writer at a time, so there is no concurrent increment to lose; "
    "the concurrency test needs PostgreSQL (DATABASE_URL)",
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("database_backend")
def test_database_counter_is_atomic_under_concurrency() -> None:
    key = f"test:threads:{uuid.uuid4().hex}"
    threads, hits_each = 8, 10
    allowed: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(hits_each):
                ok = ratelimit.hit(key, limit=50, window_seconds=60, now=NOW)
                with lock:
                    allowed.append(ok)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert len(allowed) == threads * hits_each
    assert RateCounter.objects.get(key=key).count == threads * hits_each
    assert allowed.count(True) == 50


@pytest.mark.usefixtures("redis_backend")
def test_redis_counts_atomically_under_concurrency() -> None:
    key = f"test:{uuid.uuid4().hex}"
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            ok = ratelimit.hit(key, limit=60, window_seconds=60, now=NOW)
            with lock:
                allowed.append(ok)

    pool = [threading.Thread(target=worker) for _ in range(4)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert allowed.count(True) == 60 and len(allowed) == 100
    # Nothing was written to the database (no db access is allowed in this test at all).
    client = ratelimit._redis_client(REDIS_URL)
    name = f"{ratelimit.REDIS_PREFIX}{key}:{int(ratelimit._window_start(NOW, 60).timestamp())}"
    assert int(client.get(name)) == 100
    assert 0 < client.ttl(name) <= 61
    client.delete(name)


@pytest.mark.django_db
def test_unreachable_redis_falls_back_to_the_database(settings: Settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert ratelimit.hit("test:fallback", limit=1, window_seconds=60, now=NOW)
    assert not ratelimit.hit("test:fallback", limit=1, window_seconds=60, now=NOW)
    assert RateCounter.objects.get(key="test:fallback").count == 2
