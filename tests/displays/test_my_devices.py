"""/my/devices/: the displays Alice approved, and Disconnect, which stops a display at once."""

from django.test import Client

from pevportal.models import AuditRecord
from tests.displays.conftest import Display, application, connect, register


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_lists_the_displays_alice_approved(display, alice, alice_home, bob):
    connect(display, alice, scope="usage:read bills:read")
    other = Display(register("Zeta Energy Manager"), Client())
    connect(other, bob)

    page = signed_in(alice).get("/my/devices/")
    assert page.status_code == 200
    assert "Acme Home Display" in page.text
    assert "Read your daily electricity use, for your home and your vehicle" in page.text
    assert "Read your bills" in page.text
    assert "Zeta Energy Manager" not in page.text
    assert "Connected displays (times in America/Los_Angeles)" in page.text


def test_it_shows_one_row_per_display_after_renewals(display, alice):
    tokens = connect(display, alice)
    display.refresh(tokens["refresh_token"])
    page = signed_in(alice).get("/my/devices/")
    assert page.text.count("Disconnect Acme Home Display") == 1


def test_it_stops_a_display_alice_disconnects(display, alice, alice_home):
    tokens = connect(display, alice)
    assert display.get("/api/v1/bills", tokens["access_token"]).status_code == 200
    client = signed_in(alice)
    family = client.get("/my/devices/").context["displays"][0]["token"].token_family

    response = client.post(f"/my/devices/{family}/revoke/", follow=True)

    assert "Acme Home Display is disconnected" in response.text
    assert "You have not connected a display." in response.text
    assert display.get("/api/v1/bills", tokens["access_token"]).status_code == 401
    assert display.refresh(tokens["refresh_token"]).status_code == 400
    assert AuditRecord.objects.filter(action="display.revoked", actor=alice).exists()


def test_it_does_not_let_bob_disconnect_alices_display(display, alice, bob):
    tokens = connect(display, alice)
    family = signed_in(alice).get("/my/devices/").context["displays"][0]["token"].token_family

    assert signed_in(bob).post(f"/my/devices/{family}/revoke/").status_code == 404
    assert display.get("/api/v1/live", tokens["access_token"]).status_code == 200


def test_it_disconnects_only_by_post(display, alice):
    connect(display, alice)
    client = signed_in(alice)
    family = client.get("/my/devices/").context["displays"][0]["token"].token_family
    assert client.get(f"/my/devices/{family}/revoke/").status_code == 405


def test_it_asks_for_sign_in(db):
    assert Client().get("/my/devices/")["Location"].startswith("/accounts/login/")


def test_it_registers_a_public_device_grant_client(db):
    client_id = register("Acme Home Display")
    app = application(client_id)
    assert app.client_type == "public"
    assert app.authorization_grant_type == "urn:ietf:params:oauth:grant-type:device_code"
    assert AuditRecord.objects.filter(action="display_client.registered").exists()
