"""The scenarios the devices play: commissioning, re-binding, guest visits, spoofs, replays, unplugging, a
metered session and the utility's messages.
"""

import time
from collections.abc import Callable

import requests

from binding import proofs
from binding.simulator import metering
from binding.simulator.common import API, ConformanceError, SimulatorError, timestamp
from binding.simulator.contract import (
    expect_equal,
    expect_fields,
    expect_interval,
    expect_json,
    expect_outcome,
    expect_timestamp,
    expect_unauthorized,
    expect_uuid,
)
from binding.simulator.devices import SimulatedPev
from binding.simulator.server import BindingResult, Message, ReplayResult, Site


def binding_request(site: Site, pev: SimulatedPev, plugged_in_at: str, *, commissioning: bool) -> dict:
    """The ESCI's binding request: the PEV's key when commissioning, its proof when re-binding."""
    payload = {
        "pev_id": pev.vin,
        "premise_id": site.premise_id,
        "eumd_lfdi": site.eumd.lfdi,
        "plugged_in_at": plugged_in_at,
    }
    if commissioning:
        payload["pev_public_key"] = pev.public_jwk()
    else:
        payload["pev_proof"] = pev.proof(site.premise_id, site.esci.lfdi, plugged_in_at)
    return payload


def plug_in(
    site: Site,
    pev: SimulatedPev,
    *,
    plugged_in_at: str | None = None,
    idempotency_key: str | None = None,
    before_eumd_ack: Callable[[BindingResult], None] | None = None,
) -> BindingResult:
    """The PEV plugs in: commissioning (steps 5–16) if it has no confirmed key yet, else re-binding with a
    proof (scenario 2) — as a guest when the premise is not its home. Returns the bound binding."""
    plugged_in_at = plugged_in_at or site.server.plug_in_time(after=pev.last_plugged_in_at)
    if not pev.commissioned:
        return commission(
            site,
            pev,
            plugged_in_at=plugged_in_at,
            idempotency_key=idempotency_key,
            before_eumd_ack=before_eumd_ack,
        )
    kind = "rebinding" if pev.home_premise_id in (None, site.premise_id) else "guest"
    return rebind(site, pev, plugged_in_at=plugged_in_at, idempotency_key=idempotency_key, expect_kind=kind)


def start_binding(
    site: Site, pev: SimulatedPev, payload: dict, *, idempotency_key: str | None = None
) -> tuple[requests.Response, dict]:
    """`POST /device/v1/bindings` as the ESCI: (response, body) with the always-201 rule checked."""
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    response = site.esci_call("POST", f"{API}/bindings", payload, headers=headers)
    body = expect_json(response, 201, "POST /device/v1/bindings")
    expect_fields(body, "POST /device/v1/bindings", "binding_id", "state")
    expect_uuid(body["binding_id"], "POST /device/v1/bindings")
    return response, body


def commission(
    site: Site,
    pev: SimulatedPev,
    *,
    plugged_in_at: str,
    idempotency_key: str | None = None,
    before_eumd_ack: Callable[[BindingResult], None] | None = None,
) -> BindingResult:
    """Scenario 1 steps 5–16: request with the PEV's key → pev_parameters → PEV ack → discovery → EUMD ack."""
    step = "commissioning: POST /device/v1/bindings"
    payload = binding_request(site, pev, plugged_in_at, commissioning=True)
    response, body = start_binding(site, pev, payload, idempotency_key=idempotency_key)
    expect_outcome(body, response, step, "awaiting_pev_ack")
    expect_fields(body, step, "kind", "plugged_in_at", "expires_at", "pev_parameters")
    expect_equal(body, step, kind="commissioning", plugged_in_at=plugged_in_at)
    expect_timestamp(body, step, "expires_at")
    binding_id = body["binding_id"]
    parameters = site.server.verify(body["pev_parameters"], f"{step}: pev_parameters")
    pev.accept_parameters(parameters, binding_id=binding_id, premise_id=site.premise_id)
    result = BindingResult(
        binding_id,
        body["state"],
        body["kind"],
        plugged_in_at,
        body,
        created=body,
        request=payload,
        idempotency_key=idempotency_key,
        pev_parameters=parameters,
    )

    relay_pev_ack(site, pev, result)
    if before_eumd_ack is not None:
        before_eumd_ack(result)
    eumd_ack(site, result)

    confirmation = site.server.verify(
        result.response["pev_confirmation"],
        "eumd-ack: pev_confirmation",
        typ="pev-confirmation",
        binding_id=binding_id,
        pev_id=pev.vin,
        premise_id=site.premise_id,
    )
    result.pev_confirmation = confirmation
    pev.commissioned_by(confirmation, binding_id=binding_id, premise_id=site.premise_id, at=plugged_in_at)
    return result


def relay_pev_ack(site: Site, pev: SimulatedPev, result: BindingResult) -> BindingResult:
    """Steps 12–14: the ESCI relays the PEV's signed acknowledgement; the utility answers with the EUMD's
    discovery, which the EUMD checks is meant for it."""
    step = "POST /device/v1/bindings/{id}/pev-ack"
    version = result.pev_parameters["parameters_version"]
    payload = {"parameters_version": version, "pev_signature": pev.ack_signature(result.binding_id, version)}
    response = site.esci_call("POST", f"{API}/bindings/{result.binding_id}/pev-ack", payload)
    body = expect_json(response, 200, step)
    expect_equal(body, step, binding_id=result.binding_id, state="awaiting_eumd_ack")
    expect_fields(body, step, "eumd_discovery")
    discovery = site.server.verify(
        body["eumd_discovery"],
        f"{step}: eumd_discovery",
        typ="eumd-discovery",
        binding_id=result.binding_id,
        eumd_lfdi=site.eumd.lfdi,
        pev_id=pev.vin,
        parameters_version=version,
    )
    expect_interval(discovery, f"{step}: eumd_discovery")
    expect_fields(discovery, f"{step}: eumd_discovery", "iat")
    result.state, result.response, result.eumd_discovery = body["state"], body, discovery
    return result


def eumd_ack(site: Site, result: BindingResult) -> BindingResult:
    """Steps 15–16: the EUMD, set to the discovered interval, acknowledges under its own signature."""
    step = "POST /device/v1/bindings/{id}/eumd-ack"
    discovery = result.eumd_discovery
    payload = {
        "parameters_version": discovery["parameters_version"],
        "interval_seconds": discovery["interval_seconds"],
    }
    response = site.eumd_call("POST", f"{API}/bindings/{result.binding_id}/eumd-ack", payload)
    body = expect_json(response, 200, step)
    expect_equal(body, step, binding_id=result.binding_id, state="bound")
    expect_fields(body, step, "pev_confirmation")
    result.state, result.response = body["state"], body
    return result


def rebind(
    site: Site,
    pev: SimulatedPev,
    *,
    plugged_in_at: str,
    idempotency_key: str | None = None,
    expect_kind: str = "rebinding",
) -> BindingResult:
    """Scenario 2 (Req 28), or a guest visit: the PEV's proof binds at once, with signed confirmations for
    the EUMD (step 6) and the PEV (step 7)."""
    if not pev.commissioned:
        raise SimulatorError(
            f"PEV {pev.vin} has no commissioned key in its state directory: plug it in at home first"
        )
    step = f"{expect_kind}: POST /device/v1/bindings"
    payload = binding_request(site, pev, plugged_in_at, commissioning=False)
    response, body = start_binding(site, pev, payload, idempotency_key=idempotency_key)
    expect_outcome(body, response, step, "bound")
    expect_fields(body, step, "kind", "plugged_in_at", "eumd_confirmation", "pev_confirmation")
    expect_equal(body, step, kind=expect_kind, plugged_in_at=plugged_in_at)
    binding_id = body["binding_id"]
    result = BindingResult(
        binding_id,
        "bound",
        expect_kind,
        plugged_in_at,
        body,
        created=body,
        request=payload,
        idempotency_key=idempotency_key,
    )
    result.eumd_confirmation = site.server.verify(
        body["eumd_confirmation"],
        f"{step}: eumd_confirmation",
        typ="eumd-confirmation",
        binding_id=binding_id,
        eumd_lfdi=site.eumd.lfdi,
        pev_id=pev.vin,
    )
    expect_interval(result.eumd_confirmation, f"{step}: eumd_confirmation")
    result.pev_confirmation = site.server.verify(
        body["pev_confirmation"],
        f"{step}: pev_confirmation",
        typ="pev-confirmation",
        binding_id=binding_id,
        pev_id=pev.vin,
        premise_id=site.premise_id,
    )
    pev.plugged_in(binding_id, site.premise_id, plugged_in_at)
    return result


def guest_visit(site: Site, pev: SimulatedPev, *, plugged_in_at: str | None = None) -> BindingResult:
    """A PEV commissioned at its home premise plugs in here, where the host admits guests → bound as guest."""
    if not pev.commissioned:
        raise SimulatorError(f"PEV {pev.vin} must be commissioned at its home premise before a guest visit")
    if pev.home_premise_id == site.premise_id:
        raise SimulatorError(
            f"{site.premise_id} is PEV {pev.vin}'s home premise: a guest visit needs another one"
        )
    plugged_in_at = plugged_in_at or site.server.plug_in_time(after=pev.last_plugged_in_at)
    return rebind(site, pev, plugged_in_at=plugged_in_at, expect_kind="guest")


def spoofed_vin(
    site: Site, vin: str, *, forged_with: SimulatedPev | None = None, plugged_in_at: str | None = None
) -> BindingResult:
    """Someone who read a VIN off a windshield plugs in claiming it: without a proof, or with a proof made
    with their own key (`forged_with`). The contract: `unbound`, generic reason, premise default rate."""
    plugged_in_at = plugged_in_at or site.server.plug_in_time()
    payload = {
        "pev_id": vin,
        "premise_id": site.premise_id,
        "eumd_lfdi": site.eumd.lfdi,
        "plugged_in_at": plugged_in_at,
    }
    if forged_with is not None:
        payload["pev_proof"] = forged_with.sign(
            proofs.proof_message(vin, site.premise_id, site.esci.lfdi, plugged_in_at)
        )
    response = site.esci_call("POST", f"{API}/bindings", payload)
    step = "spoofed VIN: POST /device/v1/bindings"
    body = expect_json(response, 201, step)
    expect_fields(body, step, "binding_id", "state")
    expect_outcome(body, response, step, "unbound")
    return BindingResult(
        body["binding_id"], "unbound", body.get("kind"), plugged_in_at, body, created=body, request=payload
    )


def binding_status(site: Site, binding_id: str) -> dict:
    """`GET /device/v1/bindings/{id}` as the ESCI that created it."""
    step = "GET /device/v1/bindings/{id}"
    response = site.esci_call("GET", f"{API}/bindings/{binding_id}")
    body = expect_json(response, 200, step)
    expect_fields(body, step, "binding_id", "state", "kind", "plugged_in_at")
    expect_equal(body, step, binding_id=binding_id)
    return body


def unplug(
    site: Site, binding_id: str, *, unplugged_at: str | None = None, pev: SimulatedPev | None = None
) -> dict:
    """The PEV unplugs: the ESCI ends the binding."""
    step = "POST /device/v1/bindings/{id}/end"
    unplugged_at = unplugged_at or timestamp(site.server.now())
    response = site.esci_call("POST", f"{API}/bindings/{binding_id}/end", {"unplugged_at": unplugged_at})
    body = expect_json(response, 200, step)
    expect_equal(body, step, binding_id=binding_id, state="ended")
    if pev is not None:
        pev.unplugged()
    return body


def session(
    site: Site,
    pev: SimulatedPev,
    *,
    hold_seconds: float = 0,
    plugged_in_at: str | None = None,
    unplugged_at: str | None = None,
) -> tuple[BindingResult, dict]:
    """Plug in, stay plugged for `hold_seconds`, unplug. A `plugged_in_at` in the past is a plug-in the ESCI
    reports late (as after an outage): the server accepts it within the longest plan's binding timeout."""
    result = plug_in(site, pev, plugged_in_at=plugged_in_at)
    if hold_seconds:
        time.sleep(hold_seconds)
    return result, unplug(site, result.binding_id, unplugged_at=unplugged_at, pev=pev)


def metered_session(
    site: Site,
    pev: SimulatedPev,
    *,
    hold_seconds: float = 0,
    plugged_in_at: str | None = None,
    unplugged_at: str | None = None,
    power_w: int = metering.CHARGING_POWER_W,
    batch_reads: int = metering.BATCH_READS,
) -> metering.MeteredSession:
    """A `session`, then its metering (Req 20): the EUMD sends its reads of every interval of the session
    that has ended, at the interval length it was told, signed with its own key."""
    result, ended = session(
        site, pev, hold_seconds=hold_seconds, plugged_in_at=plugged_in_at, unplugged_at=unplugged_at
    )
    pev_id, interval_seconds = metering.eumd_settings(result)
    start, end = metering.session_window(result, ended)
    reads = metering.charging_reads(start, end, interval_seconds, power_w=power_w)
    # A read whose interval has not ended is refused; a real EUMD sends it when the interval closes.
    now = site.server.now()
    due = [read for read in reads if read.interval_end <= now]
    batches = metering.send_reads(site, pev_id, due, batch_reads=batch_reads)
    return metering.MeteredSession(result, ended, pev_id, due, batches, pending=len(reads) - len(due))


def replay(site: Site) -> ReplayResult:
    """Send one signed request twice: the second is a replay (same nonce) and must get 401, server_time."""
    request = site.server.prepare(site.esci, "GET", f"{API}/time")
    first = site.server.send(request, sender="esci")
    expect_json(first, 200, "replay: first sending")
    again = site.server.send(request, sender="attacker")
    step = "replay: second sending of the same signed request"
    body = expect_unauthorized(again, step)
    if body.get("reason", "replayed") != "replayed":
        raise ConformanceError(step, f"refused as {body['reason']!r}, not as a replayed nonce", again)
    return ReplayResult(first.status_code, again.status_code, body)


def fetch_messages(site: Site) -> list[Message]:
    """`GET /device/v1/messages`: the utility's pending messages for this ESCI, each signature verified."""
    step = "GET /device/v1/messages"
    response = site.esci_call("GET", f"{API}/messages")
    body = expect_json(response, 200, step)
    if not isinstance(body.get("messages"), list):
        raise ConformanceError(step, "messages is not a list", response)
    messages = []
    for item in body["messages"]:
        if not isinstance(item, dict):
            raise ConformanceError(step, "a message is not an object", response)
        expect_fields(item, step, "id", "kind", "recipient", "recipient_id", "created_at", "jws")
        expect_timestamp(item, step, "created_at")
        # The id is inside the signed payload, so an ESCI cannot pass one message off as another.
        payload = site.server.verify(item["jws"], f"{step}: message {item['id']}", message_id=item["id"])
        fields = ("id", "kind", "recipient", "recipient_id", "created_at")
        messages.append(Message(*(item[name] for name in fields), payload=payload))
    return messages


def ack_message(site: Site, message_id: str) -> dict:
    """`POST /device/v1/messages/{id}/ack`: idempotent."""
    step = "POST /device/v1/messages/{id}/ack"
    response = site.esci_call("POST", f"{API}/messages/{message_id}/ack", {})
    body = expect_json(response, 200, step)
    expect_equal(body, step, id=message_id)
    expect_timestamp(body, step, "acked_at")
    return body
