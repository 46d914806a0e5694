"""The channel layer of production: channels_redis's Redis pub/sub layer, plus a group send for sync code.

Sync code — a device request on a gunicorn thread, a Celery task — has no event loop, and channels' layers
are async only. Handing each send to an event loop on another thread cost a re-binding about 0.9 ms of CPU
under two request threads (the GIL hand-overs between the threads, not the PUBLISH; docs/benchmarks-binding.md
"Session 7"), where the PUBLISH itself, made on the request's own thread through a blocking redis-py
connection, costs about 0.1 ms. So `group_send_blocking` publishes on the caller's thread, to the channel
and the shard `group_send` would use, serialised by the layer's own serialiser: the consumers, which
subscribe through channels_redis, cannot tell the two apart (tests/pevportal/test_channel_layers.py proves
it against a real Redis with the pinned channels_redis). Its replies are bounded by `publish_timeout`.
"""

import threading

import redis
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash, decode_hosts
from django.core.exceptions import ImproperlyConfigured

DEFAULT_PUBLISH_TIMEOUT = 2.0


class PubSubChannelLayer(RedisPubSubChannelLayer):
    """channels_redis.pubsub.RedisPubSubChannelLayer with `group_send_blocking` for sync callers.

    CONFIG as channels_redis's (`hosts`, `prefix`, …), hosts given by URL (`address`) or host and port,
    plus `publish_timeout`: seconds a blocking send may wait to connect or for Redis's reply.
    """

    def __init__(self, hosts=None, prefix="asgi", publish_timeout=DEFAULT_PUBLISH_TIMEOUT, **kwargs):
        super().__init__(hosts=hosts, prefix=prefix, **kwargs)
        self.prefix = prefix
        self.publish_timeout = publish_timeout
        self._hosts = decode_hosts(hosts)
        if any("master_name" in host for host in self._hosts):
            raise ImproperlyConfigured(
                "PubSubChannelLayer publishes to hosts given by URL or host and port, not through Sentinel"
            )
        self._clients: dict[int, redis.Redis] = {}
        self._clients_lock = threading.Lock()

    def group_send_blocking(self, group: str, message: dict) -> None:
        """`group_send` from sync code: one PUBLISH on this thread. Raises redis's errors (and OSError)."""
        channel, shard = self.group_channel(group)
        self._client(shard).publish(channel, self.serialize(message))

    def group_channel(self, group: str) -> tuple[str, int]:
        """The group's Redis channel and the index of its host, as channels_redis's `group_send` picks them
        (RedisPubSubLoopLayer._get_group_channel_name and _get_shard; a test holds them together)."""
        channel = f"{self.prefix}__group__{group}"
        return channel, _consistent_hash(channel, len(self._hosts))

    def _client(self, shard: int) -> redis.Redis:
        """One blocking client per shard and layer: redis-py's pool is thread-safe, and it opens new
        connections in a forked child."""
        client = self._clients.get(shard)
        if client is None:
            with self._clients_lock:
                client = self._clients.get(shard)
                if client is None:
                    client = self._clients[shard] = _blocking_client(self._hosts[shard], self.publish_timeout)
        return client


def _blocking_client(host: dict, timeout: float) -> redis.Redis:
    # The subscriber's long read timeout (CONFIG) does not suit a request that publishes: a send waits at
    # most `timeout` to connect and as long for the reply.
    options = {key: value for key, value in host.items() if key != "address"}
    options.update(socket_connect_timeout=timeout, socket_timeout=timeout)
    if "address" in host:
        return redis.Redis.from_url(host["address"], **options)
    return redis.Redis(**options)
