"""The device-side signer (binding/signing.py) and interoperability with an independent RFC 9421 client over
real HTTP (Req 9)."""

import datetime as dt

import http_sf
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from http_message_signatures import HTTPMessageVerifier, InvalidSignature, MappingKeyResolver, algorithms
from requests_http_signature import HTTPSignatureAuth
from requests_http_signature import algorithms as rhs_algorithms

from binding.signing import DeviceAuth, DeviceSigner

LFDI = "3e4f45ab31edfe5b67e343e5e4562e31984e23e5"
URL = "https://devices.utility.example/device/v1/bindings"


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP256R1())


def signature_input(headers: dict) -> tuple[list[str], dict]:
    [(components, params)] = http_sf.parse(headers["Signature-Input"].encode(), tltype="dictionary").values()
    return [name for name, _ in components], params


def verify(key, method, url, headers, body=None):
    """Verify with the library directly, as any RFC 9421 verifier would."""

    class Message:
        pass

    message = Message()
    message.method, message.url, message.headers = method, url, headers
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ECDSA_P256_SHA256,
        key_resolver=MappingKeyResolver(public_keys={LFDI: key.public_key()}, private_keys={}),
    )
    return verifier.verify(message, body=body)


class TestDeviceSigner:
    def test_it_signs_method_and_target_uri_with_the_lfdi_as_keyid(self, key):
        headers = DeviceSigner(LFDI, key).sign("GET", URL)

        components, params = signature_input(headers)
        assert components == ["@method", "@target-uri"]
        assert params["keyid"] == LFDI
        assert params["alg"] == "ecdsa-p256-sha256"
        assert abs(params["created"] - dt.datetime.now(dt.UTC).timestamp()) < 5
        assert len(params["nonce"]) >= 16
        assert "Content-Digest" not in headers
        assert verify(key, "GET", URL, headers)

    def test_it_adds_and_covers_a_content_digest_for_a_body(self, key):
        body = b'{"pev_id": "1HGCM82633A004352"}'
        headers = DeviceSigner(LFDI, key).sign("POST", URL, body, {"Content-Type": "application/json"})

        components, _ = signature_input(headers)
        assert components == ["@method", "@target-uri", "content-digest"]
        assert headers["Content-Digest"].startswith("sha-256=:")
        assert headers["Content-Type"] == "application/json"
        [result] = verify(key, "POST", URL, headers, body=body)
        assert result.body == body

    def test_its_signature_does_not_verify_for_another_body(self, key):
        headers = DeviceSigner(LFDI, key).sign("POST", URL, b'{"a": 1}')

        with pytest.raises(InvalidSignature):
            verify(key, "POST", URL, headers, body=b'{"a": 2}')

    def test_it_uses_a_new_nonce_for_every_request(self, key):
        signer = DeviceSigner(LFDI, key)
        nonces = {signature_input(signer.sign("GET", URL))[1]["nonce"] for _ in range(20)}

        assert len(nonces) == 20

    def test_device_auth_signs_what_requests_sends(self, key):
        prepared = requests.Request(
            "POST", URL, json={"pev_id": "1HGCM82633A004352"}, auth=DeviceAuth(DeviceSigner(LFDI, key))
        ).prepare()

        [result] = verify(key, "POST", prepared.url, prepared.headers, body=prepared.body)
        assert result.parameters["keyid"] == LFDI


@pytest.mark.django_db(transaction=True)
class TestOverRealHttp:
    """Against the running server (pytest-django's live_server), through the whole stack."""

    def test_it_accepts_a_request_signed_by_requests_http_signature(self, live_server, make_device):
        device, device_key = make_device()
        auth = HTTPSignatureAuth(
            signature_algorithm=rhs_algorithms.ECDSA_P256_SHA256,
            key=device_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            key_id=device.lfdi,
            covered_component_ids=("@method", "@authority", "@target-uri", "content-digest"),
            use_nonce=True,
        )

        response = requests.get(f"{live_server.url}/device/v1/time", auth=auth, timeout=10)

        assert response.status_code == 200, response.text
        components, params = signature_input(response.request.headers)
        assert components == ["@method", "@authority", "@target-uri", "content-digest", "date"]
        assert set(params) == {"created", "keyid", "alg", "nonce"}
        assert set(response.json()) == {"server_time"}

    def test_it_accepts_device_auth(self, live_server, make_device):
        device, device_key = make_device()
        auth = DeviceAuth(DeviceSigner(device.lfdi, device_key))

        response = requests.get(f"{live_server.url}/device/v1/time", auth=auth, timeout=10)

        assert response.status_code == 200, response.text

    def test_it_refuses_the_independent_client_signing_with_the_wrong_key(self, live_server, make_device):
        device, _ = make_device()
        _, other_key = make_device()
        auth = HTTPSignatureAuth(
            signature_algorithm=rhs_algorithms.ECDSA_P256_SHA256,
            key=other_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            key_id=device.lfdi,
            covered_component_ids=("@method", "@authority", "@target-uri", "content-digest"),
            use_nonce=True,
        )

        response = requests.get(f"{live_server.url}/device/v1/time", auth=auth, timeout=10)

        assert response.status_code == 401
        assert response.json()["reason"] == "bad_signature"
        assert "server_time" in response.json()
