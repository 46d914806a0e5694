"""Per-device rate limit of the device API (Req 9): DEVICE_RATE_LIMIT per LFDI, beyond it 429 + Retry-After.

Keyed by the *authenticated* device, so a flood of requests that merely claim a victim's keyid cannot spend
its budget. A fixed window: one counter per device and window (`120/min`: the calendar minute), so a device
may briefly reach twice the rate across a window's edge, and a request costs one Redis round trip — INCR,
and EXPIRE the first time — where DRF's sliding log read and rewrote a pickled list of timestamps in two
(every device request pays it; bench-binding, bench-live). Without Redis (the embedded default) the same
counter lives in the local-memory cache.

A Redis outage must not stop devices — charging and binding matter more than the limit — so the throttle
fails open and logs a warning, and then leaves the cache alone for CACHE_RETRY_AFTER seconds so that every
request does not wait out the socket timeout first. Replay protection does not depend on it: nonces are in
PostgreSQL (`binding/nonces.py`).
"""

import functools
import math
import time

import structlog
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from binding.models import Device

log = structlog.get_logger(__name__)

CACHE_RETRY_AFTER = 10.0
PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
           "d": 86400, "day": 86400}  # fmt: skip

_cache_down_until = 0.0


class DeviceRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        global _cache_down_until
        self._wait = None
        if not isinstance(request.auth, Device) or time.monotonic() < _cache_down_until:
            return True
        limit, seconds = _rate(settings.DEVICE_RATE_LIMIT)
        now = time.time()
        window = int(now // seconds)
        try:
            count = _count(f"device-rate:{request.auth.lfdi}:{window}", seconds)
        except (RedisError, OSError) as exc:
            _cache_down_until = time.monotonic() + CACHE_RETRY_AFTER
            log.warning("device_rate_limit_unavailable", error=repr(exc), retry_in_seconds=CACHE_RETRY_AFTER)
            return True
        if count <= limit:
            return True
        self._wait = (window + 1) * seconds - now
        return False

    def wait(self) -> float | None:
        # Whole seconds, at least one (Retry-After); the window ends within `seconds`.
        return None if self._wait is None else max(1, math.ceil(self._wait))


@functools.lru_cache(maxsize=8)
def _rate(text: str) -> tuple[int, int]:
    """`120/min` → (120, 60): DRF's rate notation (s, m, h, d or their words)."""
    count, _, period = text.partition("/")
    if not count.strip().isdigit() or period.strip().lower() not in PERIODS:
        raise ImproperlyConfigured(f"DEVICE_RATE_LIMIT must read like 120/min, got {text!r}")
    return int(count), PERIODS[period.strip().lower()]


def _count(key: str, seconds: int) -> int:
    """This window's requests of the device, this one included."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        key = cache.make_and_validate_key(key)
        # One round trip: the counter, and its expiry when it is new (a window's counter outlives it a
        # little). Django's cache API has no atomic increment-or-create, so this uses its redis-py client.
        client = cache._cache.get_client(key, write=True)
        with client.pipeline(transaction=False) as pipe:
            count, _ = pipe.incr(key).expire(key, seconds + 1, nx=True).execute()
        return count
    if cache.add(key, 1, seconds + 1):
        return 1
    return cache.incr(key)
