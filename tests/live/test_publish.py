"""Publishing panels (binding/live.py): after the commit, to the account groups that may see them and no
other, and never at the cost of the device request when the channel layer is down."""

import asyncio
import threading
import time

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from binding import live
from binding.models import Binding, PevStatus
from pevportal.channel_layers import PubSubChannelLayer
from tests.binding.test_binding_api import commission
from tests.binding.test_handshake import Home
from tests.live.conftest import NOW, heard
from tests.live.test_pev_status_api import post, report


def test_it_sends_the_panel_to_its_accounts_group_after_the_commit(
    client, home, make_device, plan, django_capture_on_commit_callbacks
):
    binding_id, _, _ = commission(client, home)
    neighbour = Home(make_device, plan=plan)

    def post_and_commit() -> bool:
        with django_capture_on_commit_callbacks() as callbacks:
            assert post(client, home, report(binding_id)).status_code == 202
        for callback in callbacks:
            callback()
        return bool(callbacks)

    async def scenario():
        # One event loop for the whole exchange: channels_redis binds its receive buffers to a loop.
        layer = get_channel_layer()
        mine, theirs = await layer.new_channel(), await layer.new_channel()
        await layer.group_add(live.group_name(home.premise.account_id), mine)
        await layer.group_add(live.group_name(neighbour.premise.account_id), theirs)
        # sync_to_async runs on this test's thread and database connection, inside its transaction.
        assert await sync_to_async(post_and_commit)()
        return await heard(layer, mine, 3), await heard(layer, theirs, 0.3)

    event, leaked = async_to_sync(scenario)()

    assert event["type"] == "live.panel"
    assert event["panel"]["binding_id"] == binding_id
    assert event["panel"]["charging_state"] == "charging"
    assert leaked is None, "another customer's group hears nothing"


class BrokenLayer:
    calls = 0

    async def group_send(self, group, message):
        BrokenLayer.calls += 1
        raise ConnectionError("Redis is down")


def test_a_channel_layer_outage_never_fails_the_device_request(
    client, home, monkeypatch, django_capture_on_commit_callbacks
):
    binding_id, _, _ = commission(client, home)
    plugged_in_at = Binding.objects.get(pk=binding_id).plugged_in_at
    monkeypatch.setattr(live, "get_channel_layer", BrokenLayer)
    BrokenLayer.calls = 0

    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, home, report(binding_id, plugged_in_at, session_energy_wh=100))
    wait_for_layer_down()
    with django_capture_on_commit_callbacks(execute=True):
        second = post(client, home, report(binding_id, session_energy_wh=200))

    assert (first.status_code, second.status_code) == (202, 202)
    assert PevStatus.objects.get(binding_id=binding_id).session_energy_wh == 200
    assert BrokenLayer.calls == 1, "after a failure the layer is left alone for a while"


def test_an_unreachable_redis_costs_the_request_no_time(
    client, home, settings, django_capture_on_commit_callbacks
):
    binding_id, _, _ = commission(client, home)
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "pevportal.channel_layers.PubSubChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:9/0"]},  # the discard port: nothing listens
        }
    }

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, home, report(binding_id))

    assert response.status_code == 202
    assert time.monotonic() - started < live.SEND_TIMEOUT_SECONDS
    wait_for_layer_down()


class SlowLayer:
    """A channels_redis stand-in whose sends wait until released."""

    def __init__(self):
        self.released = threading.Event()
        self.sent = []

    async def group_send(self, group, message):
        while not self.released.is_set():
            await asyncio.sleep(0.01)
        self.sent.append(group)


def test_an_async_caller_sends_without_waiting_and_too_many_are_dropped(home, monkeypatch, caplog):
    layer = SlowLayer()
    monkeypatch.setattr(live, "get_channel_layer", lambda: layer)
    monkeypatch.setattr(live, "MAX_SENDS_IN_FLIGHT", 1)
    group = live.group_name(home.premise.account_id)
    events = [(group, {"type": live.EVENT_TYPE, "panel": {}})]

    async def scenario():
        # The first is still in flight on this loop when the second comes: dropped, and logged.
        handed = [live._send_events(events), live._send_events(events)]
        layer.released.set()
        async with asyncio.timeout(3):
            while live._in_flight:
                await asyncio.sleep(0.01)
        return handed

    assert asyncio.run(scenario()) == [1, 0]
    assert layer.sent == [group]
    assert any("live.publish_dropped" in str(record.msg) for record in caplog.records)


def test_a_sync_caller_publishes_on_its_own_thread_through_the_pub_sub_layer(home, monkeypatch):
    class Recording(PubSubChannelLayer):
        def group_send_blocking(self, group, message):
            sent.append((threading.current_thread(), group, message["panel"]["binding_id"]))

    sent = []
    binding = home.commission(at=NOW)
    monkeypatch.setattr(live, "get_channel_layer", lambda: Recording(hosts=["redis://127.0.0.1:9/0"]))

    assert live.send_panels([str(binding.pk)]) == 1
    assert sent == [(threading.current_thread(), live.group_name(home.premise.account_id), str(binding.pk))]


def wait_for_layer_down() -> None:
    deadline = time.monotonic() + live.SEND_TIMEOUT_SECONDS + 1
    while live._layer_down_until <= time.monotonic() < deadline:
        time.sleep(0.01)
    assert live._layer_down_until > time.monotonic(), "the failed send left the layer alone for a while"
