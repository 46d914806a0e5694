"""The live panel's WebSockets (binding/consumers.py, binding/routing.py) through the real ASGI application:
the website's socket takes a session and an allowed origin, the displays' socket an OAuth2 token with
`live:read` in Sec-WebSocket-Protocol; each only ever receives its own customer's panels.

The tests are synchronous and drive an async scenario with `async_to_sync`. They commit (transactional
database): the consumers reach the database through `database_sync_to_async`, which closes the connection
it ran on when that connection's lifetime is over (always, on PostgreSQL here).
"""

import datetime as dt
import hashlib
import secrets
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, set_token_value

from binding import consumers
from pevportal.asgi import application
from tests.binding.test_binding_api import commission
from tests.binding.test_handshake import Home
from tests.live.conftest import link
from tests.live.test_pev_status_api import post, report

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _in_memory_layer(settings):
    """These sockets live in a loop `async_to_sync` closes after each scenario; there, a channels_redis
    receive task once outlived its cancellation and hung a CI run. The consumers' rules do not depend on the
    layer; bench/live.py drives them end to end over channels_redis."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


ORIGIN = (b"origin", b"http://testserver")


@pytest.fixture
def alice_home(home, alice):
    link(alice, home.premise.account)
    return home


@pytest.fixture
def bob_home(make_device, plan, bob):
    home = Home(make_device, plan=plan)
    link(bob, home.premise.account)
    return home


def session_headers(user, origin=ORIGIN) -> list[tuple[bytes, bytes]]:
    """A signed-in session of its own (signing another user in on one client would end the first)."""
    browser = Client()
    browser.force_login(user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()
    return [(b"cookie", cookie), origin]


def browser_socket(headers) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/live/", headers=headers)


def display_socket(*subprotocols: str, path: str = "/ws/api/v1/live") -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, subprotocols=list(subprotocols))


def access_token(user, *, scope="live:read", expires_in=dt.timedelta(hours=1)) -> str:
    raw = secrets.token_urlsafe(30).replace("-", "a").replace("_", "b")
    token = AccessToken(user=user, scope=scope, expires=timezone.now() + expires_in)
    set_token_value(token, raw)
    token.save()
    return raw


def revoke(raw: str) -> None:
    """What revoking a display does to its access token (pevportal/displays/access.py): it is deleted."""
    AccessToken.objects.filter(token_checksum=hashlib.sha256(raw.encode()).hexdigest()).delete()


def posted(client, home, binding_id, **fields):
    """Post a status through the device endpoint; its panel is published when the report commits."""

    def run():
        response = post(client, home, report(binding_id, **fields))
        assert response.status_code == 202, response.content

    return sync_to_async(run)()


def test_it_sends_alice_her_panels_then_each_change(client, alice, alice_home):
    binding_id, _, _ = commission(client, alice_home)
    headers = session_headers(alice)

    async def scenario():
        socket = browser_socket(headers)
        connected, _ = await socket.connect()
        assert connected
        first = await socket.receive_json_from(timeout=5)
        assert first["type"] == "panels"
        assert [panel["binding_id"] for panel in first["panels"]] == [binding_id]
        await posted(client, alice_home, binding_id, session_energy_wh=4_200)
        event = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return event

    event = async_to_sync(scenario)()

    assert event["type"] == "panel"
    assert event["panel"]["binding_id"] == binding_id
    assert event["panel"]["session_energy_kwh"] == 4.2
    assert event["panel"]["vin_last6"] == alice_home.pev.vin[-6:]


def test_alice_never_receives_bobs_events(client, alice, bob, alice_home, bob_home):
    commission(client, alice_home)
    bobs_binding, _, _ = commission(client, bob_home)
    alice_headers = session_headers(alice)
    bob_headers = session_headers(bob)

    async def scenario():
        alice_socket, bob_socket = browser_socket(alice_headers), browser_socket(bob_headers)
        assert (await alice_socket.connect())[0]
        assert (await bob_socket.connect())[0]
        alice_first = await alice_socket.receive_json_from(timeout=5)
        await bob_socket.receive_json_from(timeout=5)
        await posted(client, bob_home, bobs_binding)
        bob_event = await bob_socket.receive_json_from(timeout=5)
        alice_got_nothing = await alice_socket.receive_nothing(timeout=0.5)
        await alice_socket.disconnect()
        await bob_socket.disconnect()
        return alice_first, bob_event, alice_got_nothing

    alice_first, bob_event, alice_got_nothing = async_to_sync(scenario)()

    assert bobs_binding not in str(alice_first)
    assert bob_event["panel"]["binding_id"] == bobs_binding
    assert alice_got_nothing


def test_it_refuses_a_socket_without_a_session(db):
    async def scenario():
        return await browser_socket([ORIGIN]).connect()

    assert async_to_sync(scenario)() == (False, consumers.UNAUTHENTICATED)


def test_it_refuses_a_page_on_another_site(client, alice, alice_home):
    headers = session_headers(alice, origin=(b"origin", b"https://evil.example"))

    async def scenario():
        connected, _ = await browser_socket(headers).connect()
        return connected

    assert async_to_sync(scenario)() is False


def test_a_display_with_a_live_token_gets_its_customers_panels(client, alice, alice_home, bob_home):
    alices_binding, _, _ = commission(client, alice_home)
    commission(client, bob_home)
    token = access_token(alice)

    async def scenario():
        socket = display_socket("pevportal.v1", f"bearer.{token}")
        connected, subprotocol = await socket.connect()
        first = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return connected, subprotocol, first

    connected, subprotocol, first = async_to_sync(scenario)()

    assert connected
    assert subprotocol == "pevportal.v1", "the server selects the protocol, never echoes the token"
    assert [panel["binding_id"] for panel in first["panels"]] == [alices_binding]


@pytest.mark.parametrize(
    "offer",
    [
        lambda token: ["pevportal.v1"],
        lambda token: [f"bearer.{token}"],
        lambda token: ["pevportal.v1", "bearer.not-a-token"],
        lambda token: ["pevportal.v1", f"bearer.{token}", "bearer.another"],
    ],
    ids=["no-token", "no-protocol", "unknown-token", "two-tokens"],
)
def test_a_display_socket_without_one_valid_token_is_refused(alice, offer):
    token = access_token(alice)

    async def scenario():
        return await display_socket(*offer(token)).connect()

    assert async_to_sync(scenario)() == (False, consumers.UNAUTHENTICATED)


@pytest.mark.parametrize(
    "token_options",
    [{"scope": "usage:read bills:read"}, {"expires_in": dt.timedelta(seconds=-1)}],
    ids=["without-live-read", "expired"],
)
def test_a_token_without_live_read_or_expired_is_refused(alice, token_options):
    token = access_token(alice, **token_options)

    async def scenario():
        return await display_socket("pevportal.v1", f"bearer.{token}").connect()

    assert async_to_sync(scenario)() == (False, consumers.UNAUTHENTICATED)


def test_a_revoked_token_is_refused_and_a_token_in_the_url_is_ignored(alice):
    token = access_token(alice)
    revoke(token)
    kept = access_token(alice)

    async def scenario():
        revoked = await display_socket("pevportal.v1", f"bearer.{token}").connect()
        in_url = await display_socket(
            "pevportal.v1", path=f"/ws/api/v1/live?access_token={quote(kept)}"
        ).connect()
        return revoked, in_url

    revoked, in_url = async_to_sync(scenario)()

    assert revoked == (False, consumers.UNAUTHENTICATED)
    assert in_url == (False, consumers.UNAUTHENTICATED)


def test_an_open_display_socket_closes_when_its_token_expires_or_is_revoked(alice, monkeypatch):
    expiring = access_token(alice, expires_in=dt.timedelta(seconds=1))
    revoked = access_token(alice)
    monkeypatch.setattr(consumers, "TOKEN_RECHECK_SECONDS", 0.2)

    async def scenario():
        first = display_socket("pevportal.v1", f"bearer.{expiring}")
        second = display_socket("pevportal.v1", f"bearer.{revoked}")
        assert (await first.connect())[0]
        assert (await second.connect())[0]
        await first.receive_json_from(timeout=5)
        await second.receive_json_from(timeout=5)
        await database_sync_to_async(revoke)(revoked)
        closed = [await first.receive_output(timeout=3), await second.receive_output(timeout=3)]
        return closed

    closed = async_to_sync(scenario)()

    assert closed == [{"type": "websocket.close", "code": consumers.UNAUTHENTICATED}] * 2
