"""The production channel layer's blocking group send (pevportal/channel_layers.py): what channels_redis's
own group_send would publish, where it would publish it, within its timeout.

The exchange over Redis needs REDIS_URL (as in CI); the naming and placing test needs no server."""

import asyncio
import socket
import time
import uuid

import pytest
from django.conf import settings
from redis.exceptions import RedisError

from pevportal.channel_layers import PubSubChannelLayer
from tests.live.conftest import heard

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (a real Redis); CI sets it")


def test_it_names_and_places_a_groups_channel_as_channels_redis_does():
    hosts = [f"redis://127.0.0.1:6379/{db}" for db in range(3)]
    layer = PubSubChannelLayer(hosts=hosts, prefix="placing")

    async def channels_redis_choice(groups):
        loop_layer = layer._get_layer()  # channels_redis's own, for this loop
        return [
            (channel, loop_layer._shards.index(loop_layer._get_shard(channel)))
            for channel in (loop_layer._get_group_channel_name(group) for group in groups)
        ]

    groups = [f"account.{pk}" for pk in range(40)]
    ours = [layer.group_channel(group) for group in groups]

    assert ours == asyncio.run(channels_redis_choice(groups))
    assert len({shard for _, shard in ours}) == 3, "the groups spread over every shard"


@needs_redis
def test_a_blocking_send_reaches_the_groups_subscribers_through_channels_redis_and_no_one_else():
    layer = PubSubChannelLayer(hosts=[settings.REDIS_URL], prefix=f"test-{uuid.uuid4().hex}")

    async def scenario():
        mine, theirs = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("account.1", mine)
        await layer.group_add("account.2", theirs)
        # From a thread without a loop, as a device request sends.
        await asyncio.to_thread(layer.group_send_blocking, "account.1", {"type": "live.panel", "n": 1})
        event, leaked = await heard(layer, mine, 3), await heard(layer, theirs, 0.3)
        await layer.flush()
        return event, leaked

    event, leaked = asyncio.run(scenario())

    assert event == {"type": "live.panel", "n": 1}
    assert leaked is None


def test_a_redis_that_does_not_answer_fails_the_send_within_its_timeout():
    with socket.socket() as hung:  # accepts connections (the kernel's backlog) and never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        host, port = hung.getsockname()
        layer = PubSubChannelLayer(hosts=[f"redis://{host}:{port}/0"], publish_timeout=0.3)

        started = time.monotonic()
        with pytest.raises(RedisError):
            layer.group_send_blocking("account.1", {"type": "live.panel"})

        assert time.monotonic() - started < 1.5


def test_sentinel_hosts_are_refused_when_configured():
    with pytest.raises(Exception, match="Sentinel"):
        PubSubChannelLayer(hosts=[{"master_name": "main", "sentinels": [("127.0.0.1", 26379)]}])
