"""The live charging panel's WebSockets (S4; Req 17, 24; docs/live.md). A consumer only authenticates, joins
the groups of its user's linked accounts (`account.<pk>`, never a wider group) and forwards `live.panel`
events; binding/live.py decides what a panel holds and who receives it.

- `/ws/live/`: the website, signed in (session cookie; the origin is checked in binding/routing.py).
- `/ws/api/v1/live`: displays and energy managers, with an OAuth2 access token carrying `live:read` in
  `Sec-WebSocket-Protocol: pevportal.v1, bearer.<token>` — never in the URL, where logs would keep it.

Both send `{"type": "panels", "panels": [...]}` once connected, then `{"type": "panel", "panel": {...}}`
per change. A refused socket is closed before the handshake completes with 4401 (HTTP 403 on the wire).
"""

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from . import live

UNAUTHENTICATED = 4401
SUBPROTOCOL = "pevportal.v1"
BEARER_PREFIX = "bearer."
# How often an open display socket re-checks that its token was not revoked (expiry closes it on time).
TOKEN_RECHECK_SECONDS = 60


class _LivePanelsConsumer(AsyncJsonWebsocketConsumer):
    account_ids: list[int] = []

    async def join(self, account_ids: list[int], subprotocol: str | None = None) -> None:
        """Accept, join the accounts' groups, then send the panels as they are now. Events that arrive
        meanwhile wait in the channel and follow the snapshot."""
        self.account_ids = account_ids
        await self.accept(subprotocol)
        for account_id in account_ids:
            await self.channel_layer.group_add(live.group_name(account_id), self.channel_name)
        panels = await database_sync_to_async(live.live_panels)(account_ids)
        await self.send_json({"type": "panels", "panels": panels})

    async def disconnect(self, code):
        for account_id in self.account_ids:
            await self.channel_layer.group_discard(live.group_name(account_id), self.channel_name)

    async def receive_json(self, content, **kwargs):
        """The sockets are read-only: what a client sends is ignored."""

    async def live_panel(self, event):
        await self.send_json({"type": "panel", "panel": event["panel"]})


class LiveConsumer(_LivePanelsConsumer):
    """The website's socket: the signed-in customer's accounts."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED)
            return
        await self.join(await database_sync_to_async(live.user_account_ids)(user))


class LiveApiConsumer(_LivePanelsConsumer):
    """The displays' socket: the accounts of the token's customer, while the token is valid."""

    watcher: asyncio.Task | None = None

    async def connect(self):
        token = bearer_token(self.scope.get("subprotocols") or [])
        grant = await database_sync_to_async(live.bearer_grant)(token) if token else None
        if grant is None:
            await self.close(code=UNAUTHENTICATED)
            return
        account_ids, expires = grant
        await self.join(account_ids, subprotocol=SUBPROTOCOL)
        self.watcher = asyncio.create_task(self.watch(token, expires))

    async def disconnect(self, code):
        if self.watcher is not None:
            self.watcher.cancel()
        await super().disconnect(code)

    async def watch(self, token: str, expires) -> None:
        """Close the socket when the token expires or is revoked (re-checked every TOKEN_RECHECK_SECONDS)."""
        while True:
            remaining = (expires - timezone.now()).total_seconds()
            await asyncio.sleep(max(0.0, min(TOKEN_RECHECK_SECONDS, remaining)))
            if timezone.now() >= expires or not await database_sync_to_async(live.bearer_still_valid)(token):
                await self.close(code=UNAUTHENTICATED)
                return


def bearer_token(subprotocols: list[str]) -> str | None:
    """The access token offered as `bearer.<token>` next to `pevportal.v1`, else None."""
    tokens = [p[len(BEARER_PREFIX) :] for p in subprotocols if p.startswith(BEARER_PREFIX)]
    if SUBPROTOCOL not in subprotocols or len(tokens) != 1 or not tokens[0]:
        return None
    return tokens[0]
