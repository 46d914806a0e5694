"""Attacks the server must refuse: unsigned, tampered, stale or wrongly keyed requests, the wrong device kind,
acks out of turn — and retries it must answer with the original result.
"""

import datetime as dt
import json
import secrets

import requests
from cryptography.hazmat.primitives.asymmetric import ec
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

from binding.simulator.common import API, ConformanceError, timestamp
from binding.simulator.contract import expect_error, expect_json, expect_unauthorized
from binding.simulator.devices import SimulatedDevice, SimulatedPev
from binding.simulator.server import BindingResult, SignedRequest, Site


def independently_signed(
    device: SimulatedDevice,
    method: str,
    url: str,
    body: bytes | None = None,
    *,
    key: ec.EllipticCurvePrivateKey | None = None,
    created: dt.datetime | None = None,
) -> SignedRequest:
    """A request signed by a second RFC 9421 implementation (`http-message-signatures`, not
    `binding.signing`): the conformance kit's attacks sign with a stale `created` or someone else's key."""
    resolver = MappingKeyResolver(public_keys={}, private_keys={device.lfdi: key or device.private_key})
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ECDSA_P256_SHA256, key_resolver=resolver)
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    prepared = requests.Request(method, url, headers=headers, data=body).prepare()
    signer.sign(
        prepared,
        key_id=device.lfdi,
        created=created or dt.datetime.now(dt.UTC),
        nonce=secrets.token_urlsafe(16),
        label="sig",
        covered_component_ids=("@method", "@target-uri"),
        body=body,
    )
    return SignedRequest(method, url, dict(prepared.headers), body)


def unsigned_request(site: Site) -> dict:
    """No signature at all → 401."""
    response = site.server.send(
        SignedRequest("GET", site.server.url(f"{API}/time"), {}, None), sender="attacker"
    )
    return expect_unauthorized(response, "unsigned GET /device/v1/time")


def tampered_body(site: Site, vin: str) -> dict:
    """A binding request whose body was changed after signing (the Content-Digest no longer matches) → 401."""
    payload = {
        "pev_id": vin,
        "premise_id": site.premise_id,
        "eumd_lfdi": site.eumd.lfdi,
        "plugged_in_at": timestamp(site.server.now()),
    }
    request = site.server.prepare(site.esci, "POST", f"{API}/bindings", payload)
    request.body = json.dumps({**payload, "pev_proof": "A" * 86}, separators=(",", ":")).encode()
    return expect_unauthorized(
        site.server.send(request, sender="attacker"), "tampered body POST /device/v1/bindings"
    )


def stale_signature(site: Site) -> dict:
    """A signature `created` ten minutes ago, outside the ±300 s window → 401."""
    created = site.server.now() - dt.timedelta(minutes=10)
    request = independently_signed(site.esci, "GET", site.server.url(f"{API}/time"), created=created)
    return expect_unauthorized(
        site.server.send(request, sender="attacker"), "stale signature GET /device/v1/time"
    )


def wrong_key(site: Site) -> dict:
    """The ESCI's keyid with a signature from another key → 401."""
    request = independently_signed(
        site.esci, "GET", site.server.url(f"{API}/time"), key=ec.generate_private_key(ec.SECP256R1())
    )
    return expect_unauthorized(site.server.send(request, sender="attacker"), "wrong key GET /device/v1/time")


def eumd_creates_binding(site: Site, vin: str) -> dict:
    """An EUMD calling an ESCI-only endpoint → 403."""
    payload = {
        "pev_id": vin,
        "premise_id": site.premise_id,
        "eumd_lfdi": site.eumd.lfdi,
        "plugged_in_at": timestamp(site.server.now()),
    }
    response = site.eumd_call("POST", f"{API}/bindings", payload)
    return expect_error(response, 403, "EUMD POST /device/v1/bindings")


def retry_binding(site: Site, result: BindingResult, *, with_key: bool) -> dict:
    """Resend a binding request (freshly signed): the same Idempotency-Key, or the same ESCI, PEV and
    plugged_in_at, returns the original result."""
    step = "retried POST /device/v1/bindings" + (" with Idempotency-Key" if with_key else "")
    headers = {"Idempotency-Key": result.idempotency_key} if with_key and result.idempotency_key else None
    response = site.esci_call("POST", f"{API}/bindings", result.request, headers=headers)
    body = expect_json(response, 201, step)
    for name in ("binding_id", "state", "kind", "plugged_in_at"):
        if body.get(name) != result.created.get(name):
            raise ConformanceError(
                step, f"{name} is {body.get(name)!r}, the original said {result.created.get(name)!r}"
            )
    return body


def ack_out_of_turn(site: Site, pev: SimulatedPev, result: BindingResult) -> dict:
    """A PEV acknowledgement, with the binding's own parameters version, for a binding past its handshake
    (bound, ended, timed out) → 409."""
    signed = result.pev_parameters or result.pev_confirmation or {}
    version = signed.get("parameters_version") or "0"
    payload = {"parameters_version": version, "pev_signature": pev.ack_signature(result.binding_id, version)}
    response = site.esci_call("POST", f"{API}/bindings/{result.binding_id}/pev-ack", payload)
    return expect_error(response, 409, "pev-ack out of turn")
