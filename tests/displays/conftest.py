"""Display-test helpers: a registered display product, and the three steps of the device grant over HTTP
(the display asks for a code, the customer approves it at /device, the display polls for its token)."""

import io
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.test import Client
from oauth2_provider.models import get_application_model

from enrollment.models import AccountLink
from tests.factories import PremiseFactory

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class Display:
    """A display product as its vendor knows it: a client_id, and an HTTP client with no session."""

    client_id: str
    http: Client

    def post(self, path: str, data: dict):
        """A form post as RFC 6749 and 8628 require (application/x-www-form-urlencoded)."""
        return self.http.post(path, urlencode(data), content_type="application/x-www-form-urlencoded")

    def ask_for_code(self, scope: str | None = "live:read usage:read bills:read") -> dict:
        data = {"client_id": self.client_id}
        if scope is not None:
            data["scope"] = scope
        response = self.post("/o/device-authorization/", data)
        assert response.status_code == 200, response.content
        return response.json()

    def poll(self, device_code: str):
        return self.post(
            "/o/token/", {"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": self.client_id}
        )

    def refresh(self, refresh_token: str):
        return self.post(
            "/o/token/",
            {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.client_id},
        )

    def get(self, path: str, token: str, **params):
        return self.http.get(path, params, HTTP_AUTHORIZATION=f"Bearer {token}")


def register(name: str) -> str:
    out = io.StringIO()
    call_command("register_display_client", name, stdout=out)
    return out.getvalue().split("client_id: ")[1].strip()


@pytest.fixture
def display(db) -> Display:
    return Display(register("Acme Home Display"), Client())


def approve(client: Client, user_code: str, decision: str = "approve"):
    """The customer (signed in on `client`) types the code at /device and decides; the final response."""
    response = client.post("/device", {"user_code": user_code})
    assert response.status_code == 302, response.content
    return client.post(response["Location"], {"decision": decision})


def connect(display: Display, customer, scope: str = "live:read usage:read bills:read") -> dict:
    """The whole grant: returns the display's token response."""
    code = display.ask_for_code(scope)
    client = Client()
    client.force_login(customer)
    approve(client, code["user_code"])
    response = display.poll(code["device_code"])
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def alice_home(alice):
    premise = PremiseFactory(premise_id="P1000001", service_address="1 Alice Way, Pasadena CA")
    AccountLink.objects.create(user=alice, account=premise.account, method=AccountLink.Method.CODE)
    return premise


@pytest.fixture
def bob_home(bob):
    premise = PremiseFactory(premise_id="P2000002", service_address="2 Bob Street, Pasadena CA")
    AccountLink.objects.create(user=bob, account=premise.account, method=AccountLink.Method.CODE)
    return premise


def application(client_id: str):
    return get_application_model().objects.get(client_id=client_id)
