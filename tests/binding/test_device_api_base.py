"""What every device endpoint shares through DeviceAPIView: the error catalogue, the body limit, device kinds,
Idempotency-Key replay, and the pruning of replay state."""

import datetime as dt
import json
import threading

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from binding.models import DeviceKind, IdempotentResponse, UsedNonce
from binding.nonces import prune_idempotent_responses, prune_nonces, remember_nonce
from binding.signing import DeviceSigner
from binding.tasks import prune_device_replay_state
from tests.binding.device_api import BASE, URLCONF, IdempotentView, send

pytestmark = pytest.mark.urls(URLCONF)


@pytest.fixture
def esci(make_device):
    device, key = make_device()
    return device, DeviceSigner(device.lfdi, key)


def post(client, signer, path, body: bytes, headers=None):
    signed = signer.sign("POST", BASE + path, body)
    return send(client, "POST", path, {**signed, **(headers or {})}, body)


class TestErrorCatalogue:
    def test_it_answers_malformed_json_with_400(self, client, esci):
        _, signer = esci
        response = post(client, signer, "/device/v1/count", b'{"count": ')

        assert response.status_code == 400
        assert response.json()["error"] == "malformed"
        assert "JSON" in response.json()["detail"]

    def test_it_names_the_fields_of_a_body_that_does_not_validate(self, client, esci):
        _, signer = esci
        response = post(client, signer, "/device/v1/count", b'{"count": "three"}')

        assert response.status_code == 400
        assert response.json() == {
            "error": "malformed",
            "detail": "The request body is not valid.",
            "field_errors": {"count": ["A valid integer is required."]},
        }

    def test_it_refuses_an_eumd_on_an_esci_endpoint_with_403(self, client, make_device):
        device, key = make_device(kind=DeviceKind.EUMD)
        response = post(client, DeviceSigner(device.lfdi, key), "/device/v1/esci-only", b"{}")

        assert response.status_code == 403
        assert response.json() == {
            "error": "forbidden",
            "detail": "This endpoint takes requests signed by an ESCI (premise gateway); "
            f"device {device.lfdi} is an EUMD (PEV submeter).",
        }

    def test_it_lets_each_kind_call_its_own_endpoints(self, client, esci, make_device):
        _, esci_signer = esci
        eumd, eumd_key = make_device(kind=DeviceKind.EUMD)

        assert post(client, esci_signer, "/device/v1/esci-only", b"{}").status_code == 200
        assert (
            post(client, DeviceSigner(eumd.lfdi, eumd_key), "/device/v1/eumd-only", b"{}").status_code == 200
        )
        assert post(client, esci_signer, "/device/v1/eumd-only", b"{}").status_code == 403

    def test_it_answers_an_unsupported_method_in_the_catalogue_shape(self, client, esci):
        _, signer = esci
        response = send(client, "DELETE", "/device/v1/time", signer.sign("DELETE", BASE + "/device/v1/time"))

        assert response.status_code == 405
        assert response.json()["error"] == "method_not_allowed"

    @pytest.mark.urls("pevportal.urls")
    def test_it_leaves_the_rest_of_the_api_in_drfs_own_shape(self, client, db):
        response = client.get("/api/v1/programs/nope/", headers={"Accept": "application/json"})

        assert response.status_code == 404
        assert "error" not in response.json()


class TestBodyLimit:
    def test_it_takes_a_body_up_to_the_limit(self, client, esci):
        _, signer = esci
        body = json.dumps({"pad": "x" * (65536 - 11)}).encode()
        assert len(body) == 65536

        assert post(client, signer, "/device/v1/echo", body).status_code == 201

    def test_it_refuses_one_byte_more_with_413(self, client, esci):
        _, signer = esci
        body = json.dumps({"pad": "x" * (65536 - 10)}).encode()
        assert len(body) == 65537

        response = post(client, signer, "/device/v1/echo", body)
        assert response.status_code == 413
        assert response.json()["max_bytes"] == 65536

    def test_a_view_may_take_larger_bodies(self, client, esci):
        _, signer = esci
        body = json.dumps({"pad": "x" * 200_000}).encode()

        response = post(client, signer, "/device/v1/large", body)
        assert response.status_code == 200
        assert response.json() == {"bytes": len(body)}

    def test_the_limit_follows_the_setting(self, client, esci, settings):
        settings.DEVICE_MAX_BODY_BYTES = 1024
        _, signer = esci

        response = post(client, signer, "/device/v1/echo", json.dumps({"pad": "x" * 1024}).encode())
        assert response.status_code == 413
        assert response.json()["max_bytes"] == 1024


class TestIdempotencyKey:
    PATH = "/device/v1/idempotent"

    def test_a_retry_with_the_same_key_and_body_gets_the_original_response(self, client, esci):
        _, signer = esci
        first = post(client, signer, self.PATH, b"{}", {"Idempotency-Key": "plug-1"})
        retry = post(client, signer, self.PATH, b"{}", {"Idempotency-Key": "plug-1"})

        assert first.status_code == retry.status_code == 201
        assert retry.json() == first.json()
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers

    def test_the_key_may_be_sent_as_a_structured_field_string(self, client, esci):
        _, signer = esci
        first = post(client, signer, self.PATH, b"{}", {"Idempotency-Key": '"plug-1"'})
        retry = post(client, signer, self.PATH, b"{}", {"Idempotency-Key": "plug-1"})

        assert retry.json() == first.json()

    def test_the_same_key_with_another_body_is_a_conflict(self, client, esci):
        _, signer = esci
        post(client, signer, self.PATH, b"{}", {"Idempotency-Key": "plug-1"})
        response = post(client, signer, self.PATH, b'{"other": 1}', {"Idempotency-Key": "plug-1"})

        assert response.status_code == 409
        assert response.json()["error"] == "conflict"
        assert "plug-1" in response.json()["detail"]

    def test_keys_belong_to_one_device(self, client, esci, make_device):
        _, signer = esci
        other, other_key = make_device()
        first = post(client, signer, self.PATH, b"{}", {"Idempotency-Key": "plug-1"})
        theirs = post(
            client, DeviceSigner(other.lfdi, other_key), self.PATH, b"{}", {"Idempotency-Key": "plug-1"}
        )

        assert theirs.status_code == 201
        assert theirs.json()["id"] != first.json()["id"]

    def test_without_a_key_each_request_runs(self, client, esci):
        _, signer = esci
        first = post(client, signer, self.PATH, b"{}")
        second = post(client, signer, self.PATH, b"{}")

        assert first.json()["id"] != second.json()["id"]
        assert not IdempotentResponse.objects.exists()

    def test_a_refusal_is_replayed_too(self, client, esci):
        _, signer = esci
        body = b'{"refuse": "conflict"}'
        first = post(client, signer, self.PATH, body, {"Idempotency-Key": "ack-1"})
        runs = IdempotentView.runs
        retry = post(client, signer, self.PATH, body, {"Idempotency-Key": "ack-1"})

        assert first.status_code == retry.status_code == 409
        assert (
            retry.json() == first.json() == {"error": "conflict", "detail": "the thing is in another state"}
        )
        assert IdempotentView.runs == runs

    def test_an_authentication_failure_is_never_stored(self, client, esci):
        _, signer = esci
        headers = {**signer.sign("POST", BASE + self.PATH, b"{}"), "Idempotency-Key": "plug-1"}
        headers["Signature-Input"] = headers["Signature-Input"].replace('nonce="', 'nonce="x')

        assert send(client, "POST", self.PATH, headers, b"{}").status_code == 401
        assert post(client, signer, self.PATH, b"{}", {"Idempotency-Key": "plug-1"}).status_code == 201

    @pytest.mark.django_db(transaction=True)
    def test_two_copies_racing_get_one_result(self, make_device, monkeypatch):
        if connection.vendor != "postgresql":
            pytest.skip("needs concurrent writers: PostgreSQL")
        device, key = make_device()
        signer = DeviceSigner(device.lfdi, key)
        monkeypatch.setattr(IdempotentView, "barrier", threading.Barrier(2))
        responses = []

        def send_copy():
            try:
                responses.append(post(Client(), signer, self.PATH, b"{}", {"Idempotency-Key": "plug-1"}))
            finally:
                connection.close()

        threads = [threading.Thread(target=send_copy) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert [response.status_code for response in responses] == [201, 201]
        assert responses[0].json() == responses[1].json()
        assert sorted(response.has_header("Idempotent-Replayed") for response in responses) == [False, True]
        assert IdempotentResponse.objects.count() == 1

    def test_it_refuses_an_unusable_key(self, client, esci):
        _, signer = esci
        response = post(client, signer, self.PATH, b"{}", {"Idempotency-Key": "k" * 129})

        assert response.status_code == 400
        assert "Idempotency-Key" in response.json()["detail"]


class TestReplayState:
    def test_remember_nonce_says_whether_the_nonce_is_new(self, esci):
        device, _ = esci
        now = timezone.now()

        assert remember_nonce(device, "n-1", now) is True
        assert remember_nonce(device, "n-1", now) is False
        assert remember_nonce(device, "n-2", now) is True

    def test_it_prunes_nonces_once_their_signatures_would_be_refused_anyway(self, esci):
        device, _ = esci
        now = timezone.now()
        remember_nonce(device, "old", now - dt.timedelta(seconds=302))
        remember_nonce(device, "edge", now - dt.timedelta(seconds=300))
        remember_nonce(device, "a second past the edge", now - dt.timedelta(seconds=300.5))
        remember_nonce(device, "future", now + dt.timedelta(seconds=290))

        assert prune_nonces(now) == 1
        assert set(UsedNonce.objects.values_list("nonce", flat=True)) == {
            "edge",
            "a second past the edge",
            "future",
        }

    def test_it_prunes_idempotent_responses_after_a_day(self, esci):
        device, _ = esci
        now = timezone.now()
        for key, age in (("old", dt.timedelta(hours=25)), ("recent", dt.timedelta(hours=23))):
            stored = IdempotentResponse.objects.create(
                device=device, key=key, request_sha256="0" * 64, status_code=201, body={}
            )
            IdempotentResponse.objects.filter(pk=stored.pk).update(created_at=now - age)

        assert prune_idempotent_responses(now) == 1
        assert list(IdempotentResponse.objects.values_list("key", flat=True)) == ["recent"]

    def test_the_beat_task_prunes_both(self, esci):
        device, _ = esci
        remember_nonce(device, "old", timezone.now() - dt.timedelta(hours=1))

        assert prune_device_replay_state() == {"nonces": 1, "idempotent_responses": 0}
        assert not UsedNonce.objects.exists()
