"""Fixtures of the security tests: the API's real rate limits, with clean counters in Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from django.conf import settings
from django.test import override_settings

# The production defaults (project/settings.py; test_deploy_settings.py checks them there).
# tests/settings.py raises them for the rest of the suite, so tests here put them back.
REAL_RATES = {"login": "10/min", "registration": "10/hour", "order_placement": "30/min"}


def cache_redis() -> redis.Redis:
    """A connection of its own to the Redis behind Django's cache (not through Django)."""
    return redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])


def throttle_keys(client: redis.Redis) -> list[bytes]:
    return list(client.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*throttle_*"))


def clear_throttle_counters() -> None:
    client = cache_redis()
    keys = throttle_keys(client)
    if keys:
        client.delete(*keys)


@pytest.fixture
def real_rate_limits() -> Iterator[dict[str, str]]:
    """The production rates, and counters that start (and end) at zero."""
    clear_throttle_counters()
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": REAL_RATES}):
        yield REAL_RATES
    clear_throttle_counters()
