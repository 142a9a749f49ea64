"""Fixed-window rate limiting with atomic counters: Redis when REDIS_URL is set, else the database.

`hit(key, limit=..., window_seconds=...)` counts one hit and says whether it is within the limit.
Both backends count atomically, so concurrent requests (threads, processes, servers) never lose
an increment: Redis with INCR, the database with a single `UPDATE ... count = count + 1`.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from conveyor.core.models import RateCounter

logger = logging.getLogger(__name__)

REDIS_PREFIX = "conveyor:rate:"


def _window_start(now: dt.datetime, window_seconds: int) -> dt.datetime:
    epoch = int(now.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % window_seconds, tz=dt.UTC)


@cache
def _redis_client(url: str) -> Any:
    import redis  # imported lazily: the embedded (SQLite) mode does not need the package

    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def _count_redis(url: str, key: str, start: dt.datetime, window_seconds: int) -> int:
    # The window is part of the key, so each window starts from zero and simply expires.
    name = f"{REDIS_PREFIX}{key}:{int(start.timestamp())}"
    pipe = _redis_client(url).pipeline(transaction=True)
    pipe.incr(name)
    pipe.expire(name, window_seconds + 1)
    count, _expired = pipe.execute()
    return int(count)


def _count_database(key: str, start: dt.datetime) -> int:
    counters = RateCounter.objects.filter(key=key, window_start=start)
    with transaction.atomic():
        # The UPDATE takes the row lock, so concurrent hits queue here instead of racing on a
        # read-modify-write; the read below then sees our own increment and every earlier one.
        if not counters.update(count=F("count") + 1):
            try:
                # A savepoint: if another request inserted the window first, only this INSERT
                # is undone and we increment its row instead.
                with transaction.atomic():
                    RateCounter.objects.create(key=key, window_start=start, count=1)
            except IntegrityError:
                counters.update(count=F("count") + 1)
            else:
                # A new window for this key: the key's earlier windows are done with.
                RateCounter.objects.filter(key=key, window_start__lt=start).delete()
        return counters.values_list("count", flat=True).get()


def hit(key: str, *, limit: int, window_seconds: int, now: dt.datetime | None = None) -> bool:
    """Count one hit on `key`; True while at most `limit` hits fell in the current window."""
    start = _window_start(now or timezone.now(), window_seconds)
    url = settings.REDIS_URL
    if url:
        try:
            return _count_redis(url, key, start, window_seconds) <= limit
        except Exception:  # a Redis outage must not stop intake: count in the database instead
            logger.warning("Redis at REDIS_URL is unreachable; rate counting in the database")
    return _count_database(key, start) <= limit


def _peek_redis(url: str, key: str, start: dt.datetime) -> int:
    value = _redis_client(url).get(f"{REDIS_PREFIX}{key}:{int(start.timestamp())}")
    return int(value or 0)


def count(key: str, *, window_seconds: int, now: dt.datetime | None = None) -> int:
    """How many hits `key` has in the current window, without counting one (for limits that
    count only failures, such as logins)."""
    start = _window_start(now or timezone.now(), window_seconds)
    url = settings.REDIS_URL
    if url:
        try:
            return _peek_redis(url, key, start)
        except Exception:  # the same fallback as hit()
            logger.warning("Redis at REDIS_URL is unreachable; rate counting in the database")
    found = (
        RateCounter.objects.filter(key=key, window_start=start)
        .values_list("count", flat=True)
        .first()
    )
    return int(found or 0)
