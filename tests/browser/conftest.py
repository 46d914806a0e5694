"""Browser-test fixtures: Carol, a CSR, as a real login a browser can sign in with."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group, Permission

from pevportal.roles import CSR_GROUP

CAROL_EMAIL = "carol@utility.example"
CAROL_PASSWORD = "carol-pass-1234"


@pytest.fixture
def carol(django_user_model):
    # A transactional test's flush removes the CSR group its data migration created; make sure it is there.
    group, _ = Group.objects.get_or_create(name=CSR_GROUP)
    group.permissions.add(Permission.objects.get(content_type__app_label="pevportal", codename="csr_access"))
    carol = django_user_model.objects.create_user("carol", email=CAROL_EMAIL, password=CAROL_PASSWORD)
    carol.groups.add(group)
    EmailAddress.objects.create(user=carol, email=carol.email, verified=True, primary=True)
    return carol


def sign_in_as_carol(page, live_server) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(CAROL_EMAIL)
    page.get_by_label("Password").fill(CAROL_PASSWORD)
    page.get_by_role("button", name="Sign In").click()


# --- An ASGI live server: HTTP and WebSockets (the live charging panel, docs/live.md) ----------------------


class AsgiLiveServer:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def _asgi_server(django_db_setup, django_db_blocker):
    """Daphne serving pevportal.asgi (and the static files) from a thread of this process, for the whole
    session: pytest-django's `live_server` speaks WSGI only, and Twisted's reactor cannot start twice. In
    this process its connections see the test database, the in-memory SQLite one included (a Daphne
    process, as in channels.testing.ChannelsLiveServerTestCase, could not share that)."""
    import threading
    import time

    from channels.routing import get_default_application
    from daphne.endpoints import build_endpoint_description_strings
    from daphne.server import Server
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from twisted.internet import reactor

    server = Server(
        application=ASGIStaticFilesHandler(get_default_application()),
        endpoints=build_endpoint_description_strings(host="127.0.0.1", port=0),
        signal_handlers=False,
        verbosity=0,
    )
    thread = threading.Thread(target=server.run, name="daphne-live-server", daemon=True)
    with django_db_blocker.unblock():
        thread.start()
        deadline = time.monotonic() + 10
        while not server.listening_addresses:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("Daphne did not start listening")
            time.sleep(0.05)
        yield AsgiLiveServer(server.listening_addresses[0][1])
        reactor.callFromThread(reactor.stop)
        thread.join(timeout=10)


@pytest.fixture
def asgi_live_server(_asgi_server, transactional_db):
    """`live_server` for pages that use WebSockets: `.url` (http://…) and `.ws_url` (ws://…)."""
    return _asgi_server
