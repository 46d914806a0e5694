"""The device authorization grant (RFC 8628) over HTTP: a display asks for a code, the customer approves
or refuses it at /device, and the display's polls answer pending, its token, denied or expired."""

import datetime as dt

from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_device_grant_model

from pevportal.models import AuditRecord
from tests.displays.conftest import approve, connect


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_gives_a_display_a_token_once_alice_approves_its_code(display, alice, alice_home):
    code = display.ask_for_code("usage:read bills:read")
    assert code["verification_uri"].endswith("/device")
    assert code["verification_uri_complete"].endswith(f"/device?user_code={code['user_code']}")
    assert code["interval"] == 5
    assert code["expires_in"] == 1800

    pending = display.poll(code["device_code"])
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"

    alice_client = signed_in(alice)
    confirm = alice_client.post("/device", {"user_code": code["user_code"]})
    page = alice_client.get(confirm["Location"])
    assert "Allow Acme Home Display to read your information?" in page.text
    assert "Read your daily electricity use, for your home and your vehicle" in page.text
    assert "Read your bills" in page.text
    assert "charging status" not in page.text  # not asked for, not shown
    done = alice_client.post(confirm["Location"], {"decision": "approve"})
    assert "Display connected" in done.text

    token = display.poll(code["device_code"])
    assert token.status_code == 200
    body = token.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "usage:read bills:read"
    assert body["expires_in"] == 900
    assert body["refresh_token"]
    access = get_access_token_model().objects.get()
    assert access.user == alice
    assert access.token == ""  # stored hashed only (RFC 9700)
    assert AuditRecord.objects.filter(action="display.approved", actor=alice).exists()


def test_it_spends_a_device_code_on_the_first_token(display, alice):
    code = display.ask_for_code()
    approve(signed_in(alice), code["user_code"])
    assert display.poll(code["device_code"]).status_code == 200

    again = display.poll(code["device_code"])
    assert again.status_code == 400
    assert again.json()["error"] == "expired_token"
    assert get_access_token_model().objects.count() == 1


def test_it_tells_the_display_when_alice_refuses(display, alice):
    code = display.ask_for_code()
    page = approve(signed_in(alice), code["user_code"], decision="refuse")
    assert "You did not allow Acme Home Display" in page.text

    response = display.poll(code["device_code"])
    assert response.status_code == 400
    assert response.json()["error"] == "access_denied"
    assert not get_access_token_model().objects.exists()


def test_it_expires_a_code_nobody_approved(display, alice):
    code = display.ask_for_code()
    get_device_grant_model().objects.update(expires=timezone.now() - dt.timedelta(seconds=1))

    response = display.poll(code["device_code"])
    assert response.status_code == 400
    assert response.json()["error"] == "expired_token"

    page = signed_in(alice).post("/device", {"user_code": code["user_code"]})
    assert page.status_code == 200
    assert "That code has expired. Ask your display for a new code" in page.text


def test_it_expires_a_code_approved_too_late(display, alice):
    code = display.ask_for_code()
    client = signed_in(alice)
    confirm = client.post("/device", {"user_code": code["user_code"]})
    get_device_grant_model().objects.update(expires=timezone.now() - dt.timedelta(seconds=1))

    response = client.post(confirm["Location"], {"decision": "approve"}, follow=True)
    assert "That request is no longer waiting" in response.text
    assert display.poll(code["device_code"]).json()["error"] == "expired_token"


def test_it_says_clearly_when_alice_types_a_wrong_code(display, alice):
    display.ask_for_code()
    response = signed_in(alice).post("/device", {"user_code": "ZZZZ-ZZZZ"})
    assert response.status_code == 200
    assert "We do not recognise that code" in response.text
    assert 'aria-invalid="true"' in response.text


def test_it_accepts_the_code_in_lower_case_with_a_dash(display, alice):
    code = display.ask_for_code()["user_code"]
    typed = f"{code[:4].lower()}-{code[4:].lower()}"
    response = signed_in(alice).post("/device", {"user_code": typed})
    assert response.status_code == 302


def test_it_makes_a_guesser_wait_after_ten_wrong_codes(display, alice):
    code = display.ask_for_code()["user_code"]
    client = signed_in(alice)
    for _ in range(10):
        client.post("/device", {"user_code": "WRONG000"})
    response = client.post("/device", {"user_code": code})
    assert "Too many wrong codes" in response.text


def test_it_keeps_a_code_for_the_customer_who_typed_it_first(display, alice, bob):
    code = display.ask_for_code()["user_code"]
    signed_in(alice).post("/device", {"user_code": code})
    response = signed_in(bob).post("/device", {"user_code": code})
    assert "That code has already been used" in response.text


def test_it_does_not_show_bob_alices_pending_request(display, alice, bob):
    code = display.ask_for_code()["user_code"]
    confirm = signed_in(alice).post("/device", {"user_code": code})
    response = signed_in(bob).post(confirm["Location"], {"decision": "approve"}, follow=True)
    assert "That request is no longer waiting" in response.text
    assert get_device_grant_model().objects.get().status == "authorization-pending"


def test_it_asks_for_sign_in_first(display):
    code = display.ask_for_code()["user_code"]
    response = Client().get(f"/device?user_code={code}")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/device")


def test_it_prefills_the_code_from_the_complete_verification_uri(display, alice):
    code = display.ask_for_code()["user_code"]
    page = signed_in(alice).get(f"/device?user_code={code}")
    assert f'value="{code}"' in page.text


def test_it_gives_live_status_only_to_a_display_that_asks_for_no_scope(display, alice):
    code = display.ask_for_code(scope=None)
    approve(signed_in(alice), code["user_code"])
    assert display.poll(code["device_code"]).json()["scope"] == "live:read"


def test_it_refuses_a_scope_that_does_not_exist(display):
    response = display.post("/o/device-authorization/", {"client_id": display.client_id, "scope": "write"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_it_renews_access_with_the_refresh_token_and_refuses_a_replayed_one(display, alice):
    first = connect(display, alice)
    renewed = display.refresh(first["refresh_token"])
    assert renewed.status_code == 200
    assert renewed.json()["access_token"] != first["access_token"]

    replay = display.refresh(first["refresh_token"])
    assert replay.status_code == 400
    # Reuse protection: the replay revokes the whole family, the renewed token included.
    assert display.get("/api/v1/bills", renewed.json()["access_token"]).status_code == 401


def test_it_answers_an_unknown_device_code_with_invalid_grant(display):
    response = display.poll("no-such-code")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_it_lets_a_display_revoke_its_own_token(display, alice):
    tokens = connect(display, alice)
    response = display.post(
        "/o/revoke_token/", {"client_id": display.client_id, "token": tokens["access_token"]}
    )
    assert response.status_code == 200
    assert display.get("/api/v1/live", tokens["access_token"]).status_code == 401
