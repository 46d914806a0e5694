"""The conformance kit: every check against one premise, in order, each passed, failed or skipped."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import requests

from binding.simulator.attacks import (
    ack_out_of_turn,
    eumd_creates_binding,
    retry_binding,
    stale_signature,
    tampered_body,
    unsigned_request,
    wrong_key,
)
from binding.simulator.common import ConformanceError, SimulatorError, timestamp
from binding.simulator.contract import expect_equal
from binding.simulator.devices import SimulatedPev
from binding.simulator.scenarios import (
    ack_message,
    binding_status,
    fetch_messages,
    guest_visit,
    plug_in,
    replay,
    spoofed_vin,
    unplug,
)
from binding.simulator.server import BindingResult, Site


@dataclass
class Check:
    """One conformance check: passed, failed (with the departure) or skipped (a check it needs failed)."""

    name: str
    outcome: str
    detail: str

    def __str__(self) -> str:
        return f"{self.outcome:<4}  {self.name} — {self.detail}"


class ConformanceRun:
    """Runs checks in order, recording each; a check whose prerequisites failed is skipped."""

    def __init__(self, on_check: Callable[[Check], None] | None = None):
        self.checks: list[Check] = []
        self.values: dict[str, object] = {}
        self.on_check = on_check

    @property
    def passed(self) -> bool:
        return all(check.outcome != "FAIL" for check in self.checks)

    def run(self, name: str, func: Callable[[], object], describe: Callable[[object], str], *, needs=()):
        missing = [need for need in needs if need not in self.values]
        if missing:
            return self._record(Check(name, "SKIP", f"needs {', '.join(missing)}"))
        try:
            value = func()
        except SimulatorError as error:
            return self._record(Check(name, "FAIL", str(error)))
        except requests.RequestException as error:
            return self._record(Check(name, "FAIL", f"no answer: {error}"))
        self.values[name] = value
        return self._record(Check(name, "PASS", describe(value)))

    def _record(self, check: Check) -> Check:
        self.checks.append(check)
        if self.on_check is not None:
            self.on_check(check)
        return check


def run_conformance(
    site: Site,
    pev: SimulatedPev,
    *,
    host: Site | None = None,
    on_check: Callable[[Check], None] | None = None,
) -> ConformanceRun:
    """The whole kit against one premise: authentication, both scenarios, retries, spoofs, replays, messages,
    unplugging. `pev` must be enrolled at `site` with its commissioning window open, or already commissioned
    (its key in the state directory). With `host` (another premise that admits guests) it also visits as a
    guest."""
    kit = ConformanceRun(on_check)
    bound = "plug-in"
    kit.run(
        "clock",
        lambda: site.server.sync_clock(site.esci),
        lambda t: f"server time {timestamp(t)}, offset {int(site.server.clock_offset.total_seconds())} s",
    )
    kit.run("jwks", lambda: site.server.jwks(refresh=True)["keys"], lambda keys: f"{len(keys)} ES256 key(s)")
    kit.run("unsigned", lambda: unsigned_request(site), _said_401)
    kit.run("wrong key", lambda: wrong_key(site), _said_401)
    kit.run("stale created", lambda: stale_signature(site), _said_401)
    kit.run("tampered body", lambda: tampered_body(site, pev.vin), _said_401)
    kit.run("replay", lambda: replay(site), lambda r: f"first {r.first_status}, replay {r.replay_status}")
    kit.run("device kind", lambda: eumd_creates_binding(site, pev.vin), lambda b: f"403 {b['error']}")
    kit.run(bound, lambda: plug_in(site, pev, idempotency_key=str(uuid.uuid4())), _describe_binding)
    result = kit.values.get(bound)
    kit.run(
        "status",
        lambda: _expect_state(binding_status(site, result.binding_id), "bound"),
        _state,
        needs=[bound],
    )
    kit.run("idempotency key", lambda: retry_binding(site, result, with_key=True), _same, needs=[bound])
    kit.run("natural key", lambda: retry_binding(site, result, with_key=False), _same, needs=[bound])
    kit.run("spoofed VIN", lambda: spoofed_vin(site, pev.vin), _unbound)
    forger = SimulatedPev(pev.vin)
    kit.run("forged proof", lambda: spoofed_vin(site, pev.vin, forged_with=forger), _unbound)
    kit.run(
        "binding survives spoofs",
        lambda: _expect_state(binding_status(site, result.binding_id), "bound"),
        _state,
        needs=[bound, "spoofed VIN", "forged proof"],
    )
    kit.run(
        "ack out of turn",
        lambda: ack_out_of_turn(site, pev, result),
        lambda b: f"409 {b['error']}",
        needs=[bound],
    )
    kit.run("messages", lambda: _messages_round_trip(site), lambda text: text)
    kit.run("unplug", lambda: unplug(site, result.binding_id, pev=pev), _state, needs=[bound])
    kit.run("re-binding", lambda: plug_in(site, pev), _describe_binding, needs=["unplug"])
    kit.run(
        "unplug again",
        lambda: unplug(site, kit.values["re-binding"].binding_id, pev=pev),
        _state,
        needs=["re-binding"],
    )
    if host is not None:
        kit.run("guest", lambda: guest_visit(host, pev), _describe_binding, needs=["unplug again"])
        kit.run(
            "guest unplug",
            lambda: unplug(host, kit.values["guest"].binding_id, pev=pev),
            _state,
            needs=["guest"],
        )
    return kit


def _messages_round_trip(site: Site) -> str:
    messages = fetch_messages(site)
    if not messages:
        return "no messages pending (nothing to verify)"
    first = ack_message(site, messages[0].id)
    again = ack_message(site, messages[0].id)
    if again["acked_at"] != first["acked_at"]:
        raise ConformanceError("message ack", "a repeated ack changed acked_at: acks must be idempotent")
    return f"{len(messages)} message(s) verified; ack of {messages[0].id} idempotent"


def _expect_state(body: dict, state: str) -> dict:
    expect_equal(body, "GET /device/v1/bindings/{id}", state=state)
    return body


def _said_401(body: dict) -> str:
    reason = f" ({body['reason']})" if body.get("reason") else ""
    return f"401 {body['error']}{reason}, server_time {body['server_time']}"


def _describe_binding(result: BindingResult) -> str:
    return f"{result.kind} {result.binding_id} {result.state}"


def _state(body: dict) -> str:
    return f"{body['binding_id']} {body['state']}"


def _same(body: dict) -> str:
    return f"original result {body['binding_id']} {body['state']}"


def _unbound(result: BindingResult) -> str:
    return f"{result.binding_id} unbound, {result.response['fallback']}"
