"""Live-panel fixtures: a commissioned home with its devices (Alice's), a fresh price cache and channel layer
per test, and a guest who visits."""

import asyncio
import datetime as dt
import uuid

import pytest

from binding import charging, live
from enrollment.models import AccountLink, ServicePlan
from tests.binding.conftest import device_ca, make_device  # noqa: F401 — the binding tests' device fixtures
from tests.binding.test_handshake import Home

# 10:00 in Pasadena (PST), a Thursday: off-peak on SCE TOU-D-4-9PM.
NOW = dt.datetime(2026, 11, 26, 18, 0, 0, tzinfo=dt.UTC)


async def heard(layer, channel: str, seconds: float):
    """The next message on a channel layer's channel within `seconds`, else None (nothing was sent to it)."""
    try:
        async with asyncio.timeout(seconds):
            return await layer.receive(channel)
    except TimeoutError:
        return None


@pytest.fixture(autouse=True)
def _fresh_live_state(settings):
    """No price cached by an earlier test (tariffs are rebuilt, and SQLite reuses their ids); the channel
    layer working again after a test that broke it; on Redis, groups of this test only."""
    charging.forget_cached_prices()
    live._layer_down_until = 0.0
    settings.CHANNEL_LAYERS = {
        name: {**config, "CONFIG": {**config.get("CONFIG", {}), "prefix": f"test-{uuid.uuid4().hex}"}}
        if "Redis" in config["BACKEND"]
        else config
        for name, config in settings.CHANNEL_LAYERS.items()
    }


@pytest.fixture
def plan(sce_programs):
    return ServicePlan.objects.select_related("tariff", "program").get(code="ev-standard")


@pytest.fixture
def home(make_device, plan):  # noqa: F811
    return Home(make_device, plan=plan)


def link(user, account) -> None:
    AccountLink.objects.create(user=user, account=account, method=AccountLink.Method.CSR)
