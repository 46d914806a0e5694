"""The per-device rate limit (Req 9): 429 with Retry-After beyond DEVICE_RATE_LIMIT, and a Redis outage that
lets devices through rather than stopping them."""

import time
from types import SimpleNamespace

import pytest
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import ConnectionError as RedisConnectionError

from binding.api import throttling
from binding.signing import DeviceSigner
from tests.binding.device_api import BASE, URLCONF, assert_refused, forge, send

pytestmark = pytest.mark.urls(URLCONF)

TIME = "/device/v1/time"


@pytest.fixture(autouse=True)
def _cache_breaker_closed(monkeypatch):
    """The breaker is process-wide; each test starts (and leaves) it closed."""
    monkeypatch.setattr(throttling, "_cache_down_until", 0.0)


@pytest.fixture
def esci(make_device, settings, monkeypatch):
    settings.DEVICE_RATE_LIMIT = "3/min"
    # Half-way through a minute whatever the clock says: no window ends between a test's requests.
    midway = time.time() // 60 * 60 + 30
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: midway, monotonic=time.monotonic))
    device, key = make_device()
    return device, DeviceSigner(device.lfdi, key)


def get_time(client, signer):
    return send(client, "GET", TIME, signer.sign("GET", BASE + TIME))


def test_it_answers_429_with_retry_after_beyond_the_rate(client, esci):
    _, signer = esci
    assert [get_time(client, signer).status_code for _ in range(3)] == [200, 200, 200]

    response = get_time(client, signer)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "30", "the rest of the minute's window"
    assert response.json() == {
        "error": "rate_limited",
        "detail": "Request was throttled. Expected available in 30 seconds.",
        "retry_after": 30,
    }


def test_it_counts_each_device_separately(client, esci, make_device):
    _, signer = esci
    for _ in range(3):
        get_time(client, signer)
    other, other_key = make_device()

    assert get_time(client, signer).status_code == 429
    assert get_time(client, DeviceSigner(other.lfdi, other_key)).status_code == 200


def test_requests_that_merely_claim_a_keyid_do_not_spend_its_budget(client, esci, make_device):
    device, signer = esci
    _, attacker_key = make_device()
    for _ in range(5):
        assert_refused(
            send(client, "GET", TIME, forge(attacker_key, device.lfdi, "GET", BASE + TIME)), "bad_signature"
        )

    assert [get_time(client, signer).status_code for _ in range(3)] == [200, 200, 200]


class DownCache(BaseCache):
    """A cache whose server is unreachable, counting how often it was asked."""

    calls = 0

    def __init__(self, location, params):
        super().__init__(params)

    def _down(self, *args, **kwargs):
        DownCache.calls += 1
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    get = set = add = delete = incr = _down


def test_it_lets_devices_through_when_redis_is_unreachable(client, esci, settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    _, signer = esci

    assert [get_time(client, signer).status_code for _ in range(5)] == [200] * 5
    assert any("device_rate_limit_unavailable" in str(record.msg) for record in caplog.records)


def test_it_leaves_a_failed_cache_alone_for_a_while(client, esci, settings):
    settings.CACHES = {"default": {"BACKEND": f"{__name__}.DownCache"}}
    DownCache.calls = 0
    _, signer = esci

    assert [get_time(client, signer).status_code for _ in range(5)] == [200] * 5
    assert DownCache.calls == 1


def test_it_asks_the_cache_again_after_the_pause(client, esci, settings, monkeypatch):
    settings.CACHES = {"default": {"BACKEND": f"{__name__}.DownCache"}}
    DownCache.calls = 0
    _, signer = esci
    get_time(client, signer)

    monkeypatch.setattr(throttling, "_cache_down_until", 0.0)
    get_time(client, signer)

    assert DownCache.calls == 2


def test_a_malformed_rate_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="DEVICE_RATE_LIMIT"):
        throttling._rate("120 per minute")
    assert throttling._rate("120/min") == (120, 60)
    assert throttling._rate("5/s") == (5, 1)
