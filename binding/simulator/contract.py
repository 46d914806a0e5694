"""The device API contract: checks on the server's answers, each raising `ConformanceError` on a departure."""

import json
import uuid

import requests

from binding.simulator.common import (
    FALLBACK,
    GENERIC_REASON,
    ConformanceError,
    parse_timestamp,
    response_body,
)


def expect_json(response: requests.Response, status: int, step: str) -> dict:
    if response.status_code != status:
        raise ConformanceError(step, f"expected HTTP {status}", response)
    body = response_body(response)
    if not isinstance(body, dict):
        raise ConformanceError(step, "the body is not a JSON object", response)
    return body


def expect_fields(body: dict, step: str, *names: str) -> None:
    missing = [name for name in names if name not in body]
    if missing:
        raise ConformanceError(step, f"missing {', '.join(missing)} in {json.dumps(body)[:300]}")


def expect_equal(body: dict, step: str, **expected) -> None:
    for name, value in expected.items():
        if body.get(name) != value:
            raise ConformanceError(step, f"{name} is {body.get(name)!r}, expected {value!r}")


def expect_uuid(value: object, step: str) -> None:
    try:
        uuid.UUID(str(value))
    except ValueError:
        raise ConformanceError(step, f"binding_id {value!r} is not a UUID") from None


def expect_timestamp(body: dict, step: str, name: str) -> None:
    if parse_timestamp(body.get(name)) is None:
        raise ConformanceError(step, f"{name} {body.get(name)!r} is not YYYY-MM-DDTHH:MM:SSZ")


def expect_interval(body: dict, step: str) -> None:
    value = body.get("interval_seconds")
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0 or 3600 % value:
        raise ConformanceError(step, f"interval_seconds {value!r} is not a whole division of an hour")


def expect_price_schedule(schedule: object, step: str) -> None:
    if not isinstance(schedule, list):
        raise ConformanceError(step, "price_schedule is not a list")
    for entry in schedule:
        if not isinstance(entry, dict) or set(entry) < {"start", "end", "period", "price"}:
            raise ConformanceError(step, f"price_schedule entry {entry!r} lacks start, end, period or price")
        if parse_timestamp(entry["start"]) is None or parse_timestamp(entry["end"]) is None:
            raise ConformanceError(step, f"price_schedule entry {entry!r} has a badly formed time")


def expect_outcome(body: dict, response: requests.Response, step: str, state: str) -> None:
    """The binding reached `state`; an `unbound` answer must say only the generic reason and the fallback."""
    if body.get("state") == "unbound":
        expect_equal(body, step, reason=GENERIC_REASON, fallback=FALLBACK)
        leaked = sorted(set(body) - {"binding_id", "state", "reason", "fallback", "kind", "plugged_in_at"})
        if leaked:
            raise ConformanceError(
                step, f"an unbound answer must not say more than the generic reason: {leaked}"
            )
    if body.get("state") != state:
        hint = ""
        if body.get("state") == "unbound":
            hint = (
                " — the utility declined the plug-in: check the VIN is enrolled at this premise (with its"
                " commissioning window open, or commissioned with the key in --state-dir), that the ESCI"
                " and EUMD are registered to the premise, and that a late plug-in is reported within the"
                " plan's binding timeout"
            )
        raise ConformanceError(step, f"state is {body.get('state')!r}, expected {state!r}{hint}", response)


def public_members(jwk: object) -> dict | None:
    if not isinstance(jwk, dict):
        return None
    return {name: jwk.get(name) for name in ("kty", "crv", "x", "y")}


def expect_unauthorized(response: requests.Response, step: str) -> dict:
    """A 401 with an error code and the server's time, so a drifted device can resync."""
    body = expect_json(response, 401, step)
    expect_fields(body, step, "error", "server_time")
    expect_timestamp(body, step, "server_time")
    return body


def expect_error(response: requests.Response, status: int, step: str) -> dict:
    body = expect_json(response, status, step)
    expect_fields(body, step, "error")
    return body
