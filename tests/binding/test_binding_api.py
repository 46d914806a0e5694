"""The handshake over signed HTTP (binding/api/views.py): who may call what, the error catalogue, retries."""

import datetime as dt
import json

import pytest
from django.db import connection
from django.utils import timezone

from binding import jws
from binding.models import Binding, BindingEvent, UsedNonce
from binding.signing import DeviceSigner
from enrollment.models import ServicePlan
from tests.binding.pevs import KeyedPev
from tests.binding.test_handshake import Home, stamp

BASE = "http://testserver"


@pytest.fixture
def plan(sce_programs):
    return ServicePlan.objects.select_related("tariff", "program").get(code="ev-standard")


@pytest.fixture
def home(make_device, plan):
    return Home(make_device, plan=plan)


def call(client, device, key, method, path, body=None, headers=None):
    raw = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    signed = DeviceSigner(device.lfdi, key).sign(method, BASE + path, raw, headers=dict(headers or {}))
    if raw is None:
        return client.generic(method, path, headers=signed)
    return client.generic(method, path, raw, content_type="application/json", headers=signed)


def plug_in_body(home, *, at=None, pev=None, proof=False, key=True):
    at = at or timezone.now().replace(microsecond=0)
    pev = pev or home.pev
    body = {
        "pev_id": pev.vin,
        "premise_id": home.premise.premise_id,
        "eumd_lfdi": home.eumd.lfdi,
        "plugged_in_at": stamp(at),
    }
    if key:
        body["pev_public_key"] = pev.jwk
    if proof:
        body["pev_proof"] = pev.proof(home.premise.premise_id, home.esci.lfdi, stamp(at))
    return body


def commission(client, home):
    # A second before "now", so that a later plug-in in the same test is a different plug-in.
    earlier = timezone.now().replace(microsecond=0) - dt.timedelta(seconds=1)
    created = call(
        client, home.esci, home.esci_key, "POST", "/device/v1/bindings", plug_in_body(home, at=earlier)
    ).json()
    binding_id = created["binding_id"]
    version = jws.verify(created["pev_parameters"])["parameters_version"]
    ack = {"parameters_version": version, "pev_signature": home.pev.ack(binding_id, version)}
    acked = call(client, home.esci, home.esci_key, "POST", f"/device/v1/bindings/{binding_id}/pev-ack", ack)
    discovery = jws.verify(acked.json()["eumd_discovery"])
    eumd_ack = {"parameters_version": version, "interval_seconds": discovery["interval_seconds"]}
    bound = call(
        client, home.eumd, home.eumd_key, "POST", f"/device/v1/bindings/{binding_id}/eumd-ack", eumd_ack
    )
    return binding_id, acked, bound


def test_it_commissions_a_pev_over_signed_http(client, home):
    binding_id, acked, bound = commission(client, home)

    assert acked.status_code == 200
    assert acked.json()["state"] == "awaiting_eumd_ack"
    assert bound.status_code == 200
    assert bound.json()["state"] == "bound"
    assert jws.verify(bound.json()["pev_confirmation"])["binding_id"] == binding_id
    detail = call(client, home.esci, home.esci_key, "GET", f"/device/v1/bindings/{binding_id}")
    assert detail.json()["state"] == "bound"


def test_it_rebinds_at_once_and_ends_the_session(client, home):
    commission(client, home)
    response = call(
        client,
        home.esci,
        home.esci_key,
        "POST",
        "/device/v1/bindings",
        plug_in_body(home, key=False, proof=True),
    )

    assert response.status_code == 201
    assert (response.json()["state"], response.json()["kind"]) == ("bound", "rebinding")
    binding_id = response.json()["binding_id"]
    ended = call(
        client,
        home.esci,
        home.esci_key,
        "POST",
        f"/device/v1/bindings/{binding_id}/end",
        {"unplugged_at": stamp(timezone.now())},
    )
    assert ended.status_code == 200
    assert ended.json()["state"] == "ended"


def test_it_answers_a_spoofed_vin_201_unbound_with_the_default_rate(client, home, make_device):
    impostor = KeyedPev(home.pev.vin)
    commission(client, home)

    response = call(
        client,
        home.esci,
        home.esci_key,
        "POST",
        "/device/v1/bindings",
        plug_in_body(home, pev=impostor, key=False, proof=True),
    )

    assert response.status_code == 201
    assert response.json()["state"] == "unbound"
    assert response.json()["fallback"] == "premise_default_rate"
    assert response.json()["reason"] == "not_validated"


def test_it_refuses_an_eumd_on_esci_endpoints(client, home):
    response = call(client, home.eumd, home.eumd_key, "POST", "/device/v1/bindings", plug_in_body(home))

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert not Binding.objects.exists()


def test_it_refuses_an_esci_on_the_eumd_ack(client, home):
    created = call(client, home.esci, home.esci_key, "POST", "/device/v1/bindings", plug_in_body(home)).json()

    response = call(
        client,
        home.esci,
        home.esci_key,
        "POST",
        f"/device/v1/bindings/{created['binding_id']}/eumd-ack",
        {"parameters_version": "x", "interval_seconds": 900},
    )

    assert response.status_code == 403


def test_it_refuses_an_esci_binding_for_another_premise(client, home, make_device):
    other = Home(make_device, plan=home.enrollment.plan)
    body = {**plug_in_body(home), "premise_id": other.premise.premise_id}

    response = call(client, home.esci, home.esci_key, "POST", "/device/v1/bindings", body)

    assert response.status_code == 403
    assert not Binding.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", None),
        ({"pev_id": 12345}, "pev_id"),
        ({"plugged_in_at": "2026-11-26 18:00:00"}, "plugged_in_at"),
        ({"plugged_in_at": "2026-11-26T18:00:00.5Z"}, "plugged_in_at"),
        ({"eumd_lfdi": "ABC"}, "eumd_lfdi"),
        ({"pev_public_key": "not an object"}, "pev_public_key"),
    ],
)
def test_it_refuses_malformed_requests_with_400(client, home, body, field):
    if isinstance(body, dict):
        body = {**plug_in_body(home), **body}
    response = call(client, home.esci, home.esci_key, "POST", "/device/v1/bindings", body)

    assert response.status_code == 400
    assert response.json()["error"] == "malformed"
    if field:
        assert field in response.json()["field_errors"]
    assert not Binding.objects.exists()


@pytest.mark.parametrize("offset", [-120, 30])
def test_it_refuses_a_backdated_or_future_plug_in(client, home, offset):
    at = timezone.now().replace(microsecond=0) + dt.timedelta(seconds=offset)

    response = call(
        client, home.esci, home.esci_key, "POST", "/device/v1/bindings", plug_in_body(home, at=at)
    )

    assert response.status_code == 400
    assert "plugged_in_at" in response.json()["detail"]


def test_it_refuses_an_oversized_body(client, home, settings):
    settings.DEVICE_MAX_BODY_BYTES = 1024
    body = {**plug_in_body(home), "padding": "x" * 2048}

    response = call(client, home.esci, home.esci_key, "POST", "/device/v1/bindings", body)

    assert response.status_code == 413


def test_it_hides_another_escis_binding(client, home, make_device):
    created = call(client, home.esci, home.esci_key, "POST", "/device/v1/bindings", plug_in_body(home)).json()
    other = Home(make_device, plan=home.enrollment.plan)
    path = f"/device/v1/bindings/{created['binding_id']}"

    assert call(client, other.esci, other.esci_key, "GET", path).status_code == 404
    ack = {"parameters_version": "x", "pev_signature": "x"}
    assert call(client, other.esci, other.esci_key, "POST", path + "/pev-ack", ack).status_code == 404
    end = {"unplugged_at": stamp(timezone.now())}
    assert call(client, other.esci, other.esci_key, "POST", path + "/end", end).status_code == 404
    eumd_ack = {"parameters_version": "x", "interval_seconds": 900}
    assert call(client, other.eumd, other.eumd_key, "POST", path + "/eumd-ack", eumd_ack).status_code == 404


def test_it_refuses_an_ack_after_the_timeout_with_409(client, home, plan):
    plugged = timezone.now().replace(microsecond=0) - dt.timedelta(seconds=plan.binding_timeout_seconds - 15)
    created = call(
        client, home.esci, home.esci_key, "POST", "/device/v1/bindings", plug_in_body(home, at=plugged)
    ).json()
    Binding.objects.filter(pk=created["binding_id"]).update(deadline=timezone.now() - dt.timedelta(seconds=1))
    version = jws.verify(created["pev_parameters"])["parameters_version"]

    response = call(
        client,
        home.esci,
        home.esci_key,
        "POST",
        f"/device/v1/bindings/{created['binding_id']}/pev-ack",
        {"parameters_version": version, "pev_signature": home.pev.ack(created["binding_id"], version)},
    )

    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert Binding.objects.get().state == Binding.State.TIMED_OUT


def test_a_retry_returns_the_original_binding(client, home):
    body = plug_in_body(home)
    first = call(client, home.esci, home.esci_key, "POST", "/device/v1/bindings", body)
    again = call(client, home.esci, home.esci_key, "POST", "/device/v1/bindings", body)

    assert again.status_code == 201
    assert again.json() == first.json()
    assert Binding.objects.count() == 1


def test_an_idempotency_key_reused_with_another_body_is_a_conflict(client, home):
    body = plug_in_body(home)
    first = call(
        client, home.esci, home.esci_key, "POST", "/device/v1/bindings", body, {"Idempotency-Key": "k-1"}
    )
    replay = call(
        client, home.esci, home.esci_key, "POST", "/device/v1/bindings", body, {"Idempotency-Key": "k-1"}
    )
    other = {**body, "plugged_in_at": stamp(timezone.now() - dt.timedelta(seconds=2))}
    conflict = call(
        client, home.esci, home.esci_key, "POST", "/device/v1/bindings", other, {"Idempotency-Key": "k-1"}
    )

    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert conflict.status_code == 409
    assert Binding.objects.count() == 1


def test_every_message_in_and_out_is_in_the_binding_log(client, home):
    binding_id, _, _ = commission(client, home)

    events = list(BindingEvent.objects.filter(binding_id=binding_id).values_list("sender", "event"))

    assert events == [
        ("esci", "plug_in"),
        ("utility", "parameters_sent"),
        ("pev", "pev_ack"),
        ("utility", "eumd_discovery_sent"),
        ("eumd", "eumd_ack"),
        ("utility", "bound"),
    ]


def test_the_esci_relays_and_acknowledges_messages(client, home, carol_csr):
    from binding import messages

    [message] = messages.send_interval_change(home.eumd, 300, by=carol_csr)

    listed = call(client, home.esci, home.esci_key, "GET", "/device/v1/messages").json()["messages"]
    assert [m["id"] for m in listed] == [str(message.pk)]
    assert jws.verify(listed[0]["jws"])["interval_seconds"] == 300
    for _ in range(2):
        acked = call(client, home.esci, home.esci_key, "POST", f"/device/v1/messages/{message.pk}/ack")
        assert acked.status_code == 200
    assert call(client, home.esci, home.esci_key, "GET", "/device/v1/messages").json()["messages"] == []


def test_the_utility_key_is_published(client, db, device_ca):
    keys = client.get("/.well-known/jwks.json").json()["keys"]

    assert keys[0]["kid"] == jws.key_id()
    assert "d" not in keys[0]
    assert jws.verify(jws.sign({"a": 1}), {"keys": keys}) == {"a": 1}


def test_utility_tokens_verify_with_another_jose_library(client, db, device_ca):
    from jwcrypto import jwk
    from jwcrypto import jws as jwcrypto_jws

    [published] = client.get("/.well-known/jwks.json").json()["keys"]
    token = jws.sign({"typ": "pev-confirmation", "pev_id": "1HGCM82633A004352"})

    verifier = jwcrypto_jws.JWS()
    verifier.deserialize(token)
    verifier.verify(jwk.JWK(**published), alg="ES256")

    assert verifier.jose_header == {"alg": "ES256", "kid": jws.key_id()}
    assert json.loads(verifier.payload) == {"typ": "pev-confirmation", "pev_id": "1HGCM82633A004352"}


def test_the_device_api_is_in_the_openapi_schema(client, db):
    paths = client.get("/api/schema/?format=json").json()["paths"]

    for path in [
        "/device/v1/bindings",
        "/device/v1/bindings/{binding_id}/pev-ack",
        "/device/v1/bindings/{binding_id}/eumd-ack",
        "/device/v1/bindings/{binding_id}/end",
        "/device/v1/messages",
        "/device/v1/messages/{message_id}/ack",
    ]:
        assert path in paths
    responses = paths["/device/v1/bindings"]["post"]["responses"]
    assert {"201", "400", "401", "403", "409", "413", "429"} <= set(responses)


def test_an_idempotency_key_reused_on_another_binding_is_a_conflict(client, home):
    commission(client, home)
    first = call(
        client,
        home.esci,
        home.esci_key,
        "POST",
        "/device/v1/bindings",
        plug_in_body(home, key=False, proof=True),
    )
    binding_id = first.json()["binding_id"]
    end = {"unplugged_at": stamp(timezone.now())}
    earlier = Binding.objects.exclude(pk=binding_id).get()

    assert (
        call(
            client,
            home.esci,
            home.esci_key,
            "POST",
            f"/device/v1/bindings/{binding_id}/end",
            end,
            {"Idempotency-Key": "end"},
        ).status_code
        == 200
    )
    again = call(
        client,
        home.esci,
        home.esci_key,
        "POST",
        f"/device/v1/bindings/{earlier.pk}/end",
        end,
        {"Idempotency-Key": "end"},
    )

    assert again.status_code == 409
    assert "different request" in again.json()["detail"]


def test_a_refused_ack_with_an_idempotency_key_is_still_logged(client, home):
    plugged = timezone.now().replace(microsecond=0) - dt.timedelta(seconds=5)
    created = call(
        client, home.esci, home.esci_key, "POST", "/device/v1/bindings", plug_in_body(home, at=plugged)
    ).json()
    Binding.objects.filter(pk=created["binding_id"]).update(deadline=timezone.now() - dt.timedelta(seconds=1))
    version = jws.verify(created["pev_parameters"])["parameters_version"]
    ack = {"parameters_version": version, "pev_signature": home.pev.ack(created["binding_id"], version)}

    path = f"/device/v1/bindings/{created['binding_id']}/pev-ack"
    response = call(client, home.esci, home.esci_key, "POST", path, ack, {"Idempotency-Key": "ack-1"})

    assert response.status_code == 409
    binding = Binding.objects.get()
    assert binding.state == Binding.State.TIMED_OUT
    assert list(binding.events.values_list("event", flat=True))[-3:] == [
        "pev_ack",
        "timed_out",
        "ack_refused",
    ]


def test_a_declined_binding_reads_back_without_a_deadline(client, home):
    created = call(
        client, home.esci, home.esci_key, "POST", "/device/v1/bindings", plug_in_body(home, key=False)
    ).json()

    detail = call(
        client, home.esci, home.esci_key, "GET", f"/device/v1/bindings/{created['binding_id']}"
    ).json()

    assert detail["state"] == "unbound"
    assert detail["expires_at"] is None


# --- The plug-in's nonce, stored with the binding (binding/nonces.py DeferredNonce) -------------------------


def signed_plug_in(home, body, headers=None):
    """A plug-in's body and signed headers, to be sent more than once."""
    raw = json.dumps(body).encode()
    return raw, DeviceSigner(home.esci.lfdi, home.esci_key).sign(
        "POST", BASE + "/device/v1/bindings", raw, headers=dict(headers or {})
    )


def send_again(client, raw, headers):
    return client.generic(
        "POST", "/device/v1/bindings", raw, content_type="application/json", headers=headers
    )


def nonces_of(device) -> int:
    return UsedNonce.objects.filter(device=device).count()


def test_a_plug_in_stores_its_nonce_in_the_statement_that_stores_the_binding(client, home):
    binding_id, _, _ = commission(client, home)
    Binding.objects.filter(pk=binding_id).update(state=Binding.State.ENDED, unplugged_at=timezone.now())
    used = nonces_of(home.esci)
    raw, headers = signed_plug_in(home, plug_in_body(home, key=False, proof=True))
    statements = []

    def capture(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        response = send_again(client, raw, headers)

    assert response.json()["state"] == "bound"
    assert nonces_of(home.esci) == used + 1
    nonce_writes = [sql for sql in statements if UsedNonce._meta.db_table in sql]
    assert len(nonce_writes) == 1
    if connection.vendor == "postgresql":  # elsewhere InsertRows runs one statement per table, atomically
        assert Binding._meta.db_table in nonce_writes[0], "one statement stores the binding and the nonce"


@pytest.mark.parametrize("proof", [True, False], ids=["bound", "declined"])
def test_a_replayed_plug_in_is_refused_and_stores_nothing(client, home, proof):
    commission(client, home)
    raw, headers = signed_plug_in(home, plug_in_body(home, key=False, proof=proof))
    first = send_again(client, raw, headers)
    stored = (Binding.objects.count(), BindingEvent.objects.count(), nonces_of(home.esci))

    replay = send_again(client, raw, headers)

    assert first.status_code == 201
    assert first.json()["state"] == ("bound" if proof else "unbound")
    assert replay.status_code == 401
    assert replay.json()["reason"] == "replayed"
    assert (Binding.objects.count(), BindingEvent.objects.count(), nonces_of(home.esci)) == stored


def test_a_refused_plug_in_leaves_its_nonce_behind(client, home, make_device):
    other = Home(make_device, plan=home.enrollment.plan)
    raw, headers = signed_plug_in(home, {**plug_in_body(home), "premise_id": other.premise.premise_id})

    first = send_again(client, raw, headers)
    replay = send_again(client, raw, headers)

    assert first.status_code == 403
    assert nonces_of(home.esci) == 1
    assert (replay.status_code, replay.json()["reason"]) == (401, "replayed")
    assert not Binding.objects.exists()


def test_a_plug_in_with_an_idempotency_key_records_its_nonce_first(client, home):
    raw, headers = signed_plug_in(home, plug_in_body(home), headers={"Idempotency-Key": '"plug-1"'})

    first = send_again(client, raw, headers)
    replay = send_again(client, raw, headers)

    assert first.status_code == 201
    assert (replay.status_code, replay.json()["reason"]) == (401, "replayed"), "a replay, not a retry"
    assert Binding.objects.count() == 1
