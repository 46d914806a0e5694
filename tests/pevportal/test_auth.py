"""Sign-in is by email (django-allauth) with verification required, and TOTP MFA is available."""

import pytest
from allauth.account.models import EmailAddress

pytestmark = pytest.mark.django_db


def test_it_offers_an_authenticator_app(client, alice):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    client.force_login(alice)

    response = client.get("/accounts/2fa/")

    assert response.status_code == 200
    assert "Authenticator App" in response.content.decode()


def test_it_requires_email_verification_before_sign_in(client, mailoutbox):
    password = "a-long-pass-phrase-9"
    response = client.post(
        "/accounts/signup/", {"email": "dana@example.com", "password1": password, "password2": password}
    )

    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert "dana@example.com" in mailoutbox[0].to
    assert not client.get("/my/").wsgi_request.user.is_authenticated
