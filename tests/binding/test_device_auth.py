"""Every device request is signed by its device (Req 9; NF.1), and each attack on that is refused with a 401
that tells the device the server's time."""

import datetime as dt
import hashlib
import re
import urllib.parse

import pytest
from http_message_signatures import ContentDigest

from binding.devices import disable_device
from binding.models import DeviceKind, UsedNonce
from binding.signing import DeviceSigner
from tests.binding.device_api import BASE, URLCONF, assert_refused, forge, send

pytestmark = pytest.mark.urls(URLCONF)

TIME = "/device/v1/time"
ECHO = "/device/v1/echo"
BODY = b'{"pev_id": "1HGCM82633A004352", "premise_id": "P-1"}'


@pytest.fixture
def esci(make_device):
    return make_device()


@pytest.fixture
def other_esci(make_device):
    return make_device()


def signed_post(signer: DeviceSigner, path: str = ECHO, body: bytes = BODY) -> dict:
    return signer.sign("POST", BASE + path, body)


def test_it_accepts_a_signed_request_and_tells_the_view_which_device_sent_it(client, esci):
    device, key = esci
    response = send(client, "POST", ECHO, signed_post(DeviceSigner(device.lfdi, key)), BODY)

    assert response.status_code == 201, response.content
    assert response.json() == {
        "lfdi": device.lfdi,
        "user": str(device),
        "user_is_authenticated": True,
        "relay": None,
        "received": {"pev_id": "1HGCM82633A004352", "premise_id": "P-1"},
    }


def test_it_refuses_an_unsigned_request(client, db):
    body = assert_refused(send(client, "POST", ECHO, {}, BODY), "unsigned")
    assert "Signature-Input" in body["detail"]


def test_it_refuses_a_signature_made_with_another_devices_key(client, esci, other_esci):
    device, _ = esci
    _, other_key = other_esci
    headers = forge(other_key, device.lfdi, "POST", BASE + ECHO, BODY)

    body = assert_refused(send(client, "POST", ECHO, headers, BODY), "bad_signature")
    assert device.lfdi in body["detail"]


def test_it_refuses_a_tampered_body(client, esci):
    device, key = esci
    headers = signed_post(DeviceSigner(device.lfdi, key))
    tampered = BODY.replace(b"P-1", b"P-2")

    body = assert_refused(send(client, "POST", ECHO, headers, tampered), "digest_mismatch")
    assert "Content-Digest" in body["detail"]


def test_it_refuses_a_tampered_body_sent_with_a_matching_digest(client, esci):
    device, key = esci
    headers = signed_post(DeviceSigner(device.lfdi, key))
    tampered = BODY.replace(b"P-1", b"P-2")
    headers["Content-Digest"] = ContentDigest.create(tampered)

    assert_refused(send(client, "POST", ECHO, headers, tampered), "bad_signature")


def test_it_refuses_a_request_for_another_address_than_the_one_signed(client, esci):
    device, key = esci
    headers = DeviceSigner(device.lfdi, key).sign("POST", BASE + "/device/v1/count", BODY)

    body = assert_refused(send(client, "POST", ECHO, headers, BODY), "bad_signature")
    assert f"{BASE}{ECHO}" in body["detail"]


# One second past the window either way, plus one for the future: the server's clock may turn a second between
# signing and checking, which makes a past `created` older but a future one nearer.
@pytest.mark.parametrize(("offset", "reason"), [(-301, "expired"), (302, "created_in_future")])
def test_it_refuses_a_signature_created_outside_the_window(client, esci, offset, reason):
    device, key = esci
    created = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)
    headers = forge(key, device.lfdi, "GET", BASE + TIME, created=created)

    body = assert_refused(send(client, "GET", TIME, headers), reason)
    # 301 or 302 s, depending on whether the second turned between signing and checking.
    assert re.search(r"created is 30[12] s (before|after) server time \(limit ±300 s\)", body["detail"])


@pytest.mark.parametrize("offset", [-290, 290])
def test_it_accepts_a_clock_off_by_less_than_the_window(client, esci, offset):
    device, key = esci
    created = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)
    headers = forge(key, device.lfdi, "GET", BASE + TIME, created=created)

    assert send(client, "GET", TIME, headers).status_code == 200


def test_it_follows_the_configured_window(client, esci, settings):
    settings.DEVICE_SIGNATURE_WINDOW_SECONDS = 60
    device, key = esci
    created = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=90)
    headers = forge(key, device.lfdi, "GET", BASE + TIME, created=created)

    body = assert_refused(send(client, "GET", TIME, headers), "expired")
    assert "±60 s" in body["detail"]


def test_it_refuses_a_replayed_request(client, esci):
    device, key = esci
    headers = signed_post(DeviceSigner(device.lfdi, key))
    assert send(client, "POST", ECHO, headers, BODY).status_code == 201

    assert_refused(send(client, "POST", ECHO, headers, BODY), "replayed")
    assert UsedNonce.objects.filter(device=device).count() == 1


def test_it_keeps_nonces_per_device(client, esci, other_esci):
    for device, key in (esci, other_esci):
        headers = forge(key, device.lfdi, "GET", BASE + TIME, nonce="same-nonce-for-both")
        assert send(client, "GET", TIME, headers).status_code == 200


def test_it_records_a_nonce_only_once_the_signature_verifies(client, esci, other_esci):
    """Otherwise anyone could burn a device's nonces with junk signatures."""
    device, key = esci
    _, other_key = other_esci
    forged = forge(other_key, device.lfdi, "GET", BASE + TIME, nonce="n-0001")
    assert_refused(send(client, "GET", TIME, forged), "bad_signature")

    genuine = forge(key, device.lfdi, "GET", BASE + TIME, nonce="n-0001")
    assert send(client, "GET", TIME, genuine).status_code == 200


def test_it_refuses_a_signature_without_a_nonce(client, esci):
    device, key = esci
    headers = forge(key, device.lfdi, "GET", BASE + TIME, nonce=None)

    assert_refused(send(client, "GET", TIME, headers), "missing_nonce")


def test_it_refuses_an_unknown_keyid(client, esci):
    _, key = esci
    stranger = hashlib.sha256(b"not registered").hexdigest()[:40]
    headers = forge(key, stranger, "GET", BASE + TIME)

    body = assert_refused(send(client, "GET", TIME, headers), "unknown_device")
    assert stranger in body["detail"]


def test_it_refuses_a_keyid_that_is_not_an_lfdi(client, esci):
    _, key = esci
    headers = forge(key, "device-1", "GET", BASE + TIME)

    assert_refused(send(client, "GET", TIME, headers), "bad_keyid")


def test_it_accepts_the_lfdi_in_uppercase_as_ieee_2030_5_prints_it(client, esci):
    device, key = esci
    headers = forge(key, device.lfdi.upper(), "GET", BASE + TIME)

    assert send(client, "GET", TIME, headers).status_code == 200


def test_it_refuses_a_disabled_device_from_its_next_request(client, esci, carol_csr):
    device, key = esci
    signer = DeviceSigner(device.lfdi, key)
    assert send(client, "GET", TIME, signer.sign("GET", BASE + TIME)).status_code == 200

    disable_device(device, "reported stolen", carol_csr)

    assert_refused(send(client, "GET", TIME, signer.sign("GET", BASE + TIME)), "device_disabled")


def test_it_refuses_a_device_whose_certificate_expired(client, esci):
    device, key = esci
    device.not_after = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    device.save(update_fields=["not_after"])

    headers = DeviceSigner(device.lfdi, key).sign("GET", BASE + TIME)
    assert_refused(send(client, "GET", TIME, headers), "certificate_expired")


def test_it_refuses_a_signature_that_does_not_cover_the_target_uri(client, esci):
    device, key = esci
    headers = forge(key, device.lfdi, "GET", BASE + TIME, components=("@method", "@authority", "@path"))

    body = assert_refused(send(client, "GET", TIME, headers), "insufficient_coverage")
    assert "@target-uri" in body["detail"]


def test_it_refuses_a_body_whose_digest_the_signature_does_not_cover(client, esci):
    device, key = esci
    headers = forge(key, device.lfdi, "POST", BASE + ECHO)  # signed without the body
    headers["Content-Digest"] = ContentDigest.create(BODY)

    body = assert_refused(send(client, "POST", ECHO, headers, BODY), "insufficient_coverage")
    assert "content-digest" in body["detail"]


def test_it_refuses_a_body_without_a_content_digest(client, esci):
    device, key = esci
    headers = signed_post(DeviceSigner(device.lfdi, key))
    del headers["Content-Digest"]

    assert_refused(send(client, "POST", ECHO, headers, BODY), "digest_mismatch")


def test_it_checks_a_content_digest_sent_with_an_empty_body(client, esci):
    device, key = esci
    headers = forge(key, device.lfdi, "GET", BASE + TIME, components=("@method", "@target-uri"))
    headers["Content-Digest"] = ContentDigest.create(b"something else")

    assert_refused(send(client, "GET", TIME, headers), "digest_mismatch")


def test_it_accepts_a_signature_covering_more_than_required(client, esci):
    device, key = esci
    components = ("@method", "@authority", "@target-uri", "date", "content-type")
    headers = forge(
        key,
        device.lfdi,
        "POST",
        BASE + ECHO,
        BODY,
        components=components,
        headers={"Date": "Thu, 26 Nov 2026 07:00:00 GMT", "Content-Type": "application/json"},
    )
    del headers["Content-Type"]  # the test client sends its own, identical one

    assert send(client, "POST", ECHO, headers, BODY).status_code == 201


def test_it_refuses_two_signatures(client, esci):
    device, key = esci
    headers = forge(key, device.lfdi, "GET", BASE + TIME)
    second = forge(key, device.lfdi, "GET", BASE + TIME)
    headers["Signature-Input"] += ", " + second["Signature-Input"].replace("sig=", "sig2=", 1)
    headers["Signature"] += ", " + second["Signature"].replace("sig=", "sig2=", 1)

    assert_refused(send(client, "GET", TIME, headers), "multiple_signatures")


def test_it_refuses_another_algorithm(client, esci):
    device, key = esci
    headers = forge(key, device.lfdi, "GET", BASE + TIME)
    headers["Signature-Input"] = headers["Signature-Input"].replace("ecdsa-p256-sha256", "hmac-sha256")

    assert_refused(send(client, "GET", TIME, headers), "unsupported_algorithm")


def test_it_refuses_an_unparseable_signature(client, esci):
    device, key = esci
    headers = forge(key, device.lfdi, "GET", BASE + TIME)
    headers["Signature-Input"] = 'sig=("@method" "@target-uri";created=1'

    assert_refused(send(client, "GET", TIME, headers), "malformed_signature")


def test_it_refuses_an_oversized_body_before_looking_at_the_signature(client, db):
    response = send(client, "POST", ECHO, {}, b"[" + b"0," * 40_000 + b"0]")

    assert response.status_code == 413
    assert response.json() == {
        "error": "too_large",
        "detail": "The request body is larger than this endpoint accepts (65536 bytes).",
        "max_bytes": 65536,
    }


def test_it_verifies_the_address_the_device_used_behind_a_tls_proxy(client, esci, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.USE_X_FORWARDED_HOST = True
    settings.ALLOWED_HOSTS = ["devices.utility.example"]
    device, key = esci
    headers = DeviceSigner(device.lfdi, key).sign("GET", "https://devices.utility.example/device/v1/time")
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "devices.utility.example"}

    assert send(client, "GET", TIME, {**headers, **proxy}).status_code == 200


class TestForwardedClientCertificate:
    """nginx verifies the TLS client certificate and forwards it; it must be the signing device's."""

    @pytest.fixture(autouse=True)
    def _trust_the_test_client(self, settings):
        settings.DEVICE_TRUSTED_PROXIES = ["127.0.0.1"]

    @staticmethod
    def cert_header(device) -> dict:
        return {"X-SSL-Client-Cert": urllib.parse.quote(device.certificate_pem)}

    def test_it_accepts_the_signing_devices_certificate(self, client, esci):
        device, key = esci
        headers = DeviceSigner(device.lfdi, key).sign("GET", BASE + TIME)

        assert send(client, "GET", TIME, {**headers, **self.cert_header(device)}).status_code == 200

    def test_it_refuses_another_devices_certificate(self, client, esci, other_esci):
        device, key = esci
        headers = DeviceSigner(device.lfdi, key).sign("GET", BASE + TIME)

        response = send(client, "GET", TIME, {**headers, **self.cert_header(other_esci[0])})
        body = assert_refused(response, "client_certificate_mismatch")
        assert other_esci[0].lfdi in body["detail"]

    def test_it_refuses_an_unreadable_certificate(self, client, esci):
        device, key = esci
        headers = DeviceSigner(device.lfdi, key).sign("GET", BASE + TIME)

        response = send(client, "GET", TIME, {**headers, "X-SSL-Client-Cert": "not a certificate"})
        assert_refused(response, "client_certificate_mismatch")

    def test_it_accepts_a_request_through_the_proxy_without_a_client_certificate(self, client, esci):
        device, key = esci
        headers = DeviceSigner(device.lfdi, key).sign("GET", BASE + TIME)

        assert send(client, "GET", TIME, headers).status_code == 200

    def test_it_ignores_the_header_from_an_address_that_is_not_a_trusted_proxy(
        self, client, esci, other_esci
    ):
        device, key = esci
        headers = DeviceSigner(device.lfdi, key).sign("GET", BASE + TIME)

        response = send(
            client, "GET", TIME, {**headers, **self.cert_header(other_esci[0])}, REMOTE_ADDR="192.0.2.7"
        )
        assert response.status_code == 200

    def test_it_accepts_an_eumd_request_relayed_by_its_premises_esci(self, client, esci, make_device):
        esci_device, _ = esci
        eumd, eumd_key = make_device(kind=DeviceKind.EUMD, premise=esci_device.premise)
        headers = signed_post(DeviceSigner(eumd.lfdi, eumd_key))

        response = send(client, "POST", ECHO, {**headers, **self.cert_header(esci_device)}, BODY)
        assert response.status_code == 201
        assert response.json()["lfdi"] == eumd.lfdi
        assert response.json()["relay"] == esci_device.lfdi

    def test_it_refuses_an_eumd_request_relayed_by_another_premises_esci(
        self, client, other_esci, make_device
    ):
        eumd, eumd_key = make_device(kind=DeviceKind.EUMD)
        headers = signed_post(DeviceSigner(eumd.lfdi, eumd_key))

        response = send(client, "POST", ECHO, {**headers, **self.cert_header(other_esci[0])}, BODY)
        assert_refused(response, "client_certificate_mismatch")

    def test_it_refuses_an_eumd_certificate_on_an_esci_request(self, client, esci, make_device):
        esci_device, key = esci
        eumd, _ = make_device(kind=DeviceKind.EUMD, premise=esci_device.premise)
        headers = DeviceSigner(esci_device.lfdi, key).sign("GET", BASE + TIME)

        assert_refused(
            send(client, "GET", TIME, {**headers, **self.cert_header(eumd)}), "client_certificate_mismatch"
        )

    def test_it_trusts_a_proxy_network(self, client, esci, other_esci, settings):
        settings.DEVICE_TRUSTED_PROXIES = ["10.0.0.0/24"]
        device, key = esci
        headers = DeviceSigner(device.lfdi, key).sign("GET", BASE + TIME)

        response = send(
            client, "GET", TIME, {**headers, **self.cert_header(other_esci[0])}, REMOTE_ADDR="10.0.0.9"
        )
        assert_refused(response, "client_certificate_mismatch")


def test_an_eumd_is_authenticated_like_an_esci(client, make_device):
    device, key = make_device(kind=DeviceKind.EUMD)
    response = send(client, "POST", ECHO, signed_post(DeviceSigner(device.lfdi, key)), BODY)

    assert response.status_code == 201
    assert response.json()["lfdi"] == device.lfdi
