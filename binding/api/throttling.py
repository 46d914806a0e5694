"""Per-device rate limit of the device API (Req 9): DEVICE_RATE_LIMIT per LFDI, beyond it 429 + Retry-After.

Keyed by the *authenticated* device, so a flood of requests that merely claim a victim's keyid cannot spend
its budget. The counters live in the cache (Redis in production). A Redis outage must not stop devices —
charging and binding matter more than the limit — so the throttle fails open and logs a warning, and then
leaves the cache alone for CACHE_RETRY_AFTER seconds so that every request does not wait out the socket
timeout first. Replay protection does not depend on it: nonces are in PostgreSQL (`binding/nonces.py`).
"""

import time

import structlog
from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

from binding.models import Device

log = structlog.get_logger(__name__)

CACHE_RETRY_AFTER = 10.0

_cache_down_until = 0.0


class DeviceRateThrottle(SimpleRateThrottle):
    scope = "device"

    def get_rate(self) -> str:
        return settings.DEVICE_RATE_LIMIT

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.auth, Device):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.lfdi}

    def allow_request(self, request, view) -> bool:
        global _cache_down_until
        if time.monotonic() < _cache_down_until:
            return True
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError) as exc:
            _cache_down_until = time.monotonic() + CACHE_RETRY_AFTER
            log.warning("device_rate_limit_unavailable", error=repr(exc), retry_in_seconds=CACHE_RETRY_AFTER)
            return True
