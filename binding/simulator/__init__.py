"""A device simulator and conformance kit: an ESCI, its EUMD and a PEV over real signed HTTP.

It plays the device side of scenario 1 steps 5–16 and scenario 2 (docs/device-api.md) against any server that
speaks the device API — this portal under `make run`, pytest's live server, or a vendor's sandbox — and checks
every answer against the contract: an answer that departs from it raises `ConformanceError`. It talks to the
server only over HTTP and never reads the portal's database, so it can run anywhere the device keys are.

The PEV keeps its P-256 key (and what it learnt at commissioning) in a state directory, so a later run
re-binds with a proof instead of commissioning again.
"""

from binding.simulator.attacks import (
    ack_out_of_turn,
    eumd_creates_binding,
    independently_signed,
    retry_binding,
    stale_signature,
    tampered_body,
    unsigned_request,
    wrong_key,
)
from binding.simulator.common import (
    API,
    FALLBACK,
    GENERIC_REASON,
    JWKS_PATH,
    TIMEOUT_SECONDS,
    TIMESTAMP,
    TIMESTAMP_FORMAT,
    ConformanceError,
    SimulatorError,
    b64url,
    parse_timestamp,
    timestamp,
)
from binding.simulator.conformance import Check, ConformanceRun, run_conformance
from binding.simulator.contract import expect_error, expect_unauthorized
from binding.simulator.devices import SimulatedDevice, SimulatedPev
from binding.simulator.metering import BatchResult, IntervalRead, MeteredSession
from binding.simulator.scenarios import (
    ack_message,
    binding_request,
    binding_status,
    commission,
    eumd_ack,
    fetch_messages,
    guest_visit,
    metered_session,
    plug_in,
    rebind,
    relay_pev_ack,
    replay,
    session,
    spoofed_vin,
    start_binding,
    unplug,
)
from binding.simulator.server import (
    BindingResult,
    Exchange,
    Message,
    ReplayResult,
    Server,
    SignedRequest,
    Site,
)

__all__ = [
    "API",
    "FALLBACK",
    "GENERIC_REASON",
    "JWKS_PATH",
    "TIMEOUT_SECONDS",
    "TIMESTAMP",
    "TIMESTAMP_FORMAT",
    "BatchResult",
    "BindingResult",
    "Check",
    "ConformanceError",
    "ConformanceRun",
    "Exchange",
    "IntervalRead",
    "Message",
    "MeteredSession",
    "ReplayResult",
    "Server",
    "SignedRequest",
    "SimulatedDevice",
    "SimulatedPev",
    "SimulatorError",
    "Site",
    "ack_message",
    "ack_out_of_turn",
    "b64url",
    "binding_request",
    "binding_status",
    "commission",
    "eumd_ack",
    "eumd_creates_binding",
    "expect_error",
    "expect_unauthorized",
    "fetch_messages",
    "guest_visit",
    "independently_signed",
    "metered_session",
    "parse_timestamp",
    "plug_in",
    "rebind",
    "relay_pev_ack",
    "replay",
    "retry_binding",
    "run_conformance",
    "session",
    "spoofed_vin",
    "stale_signature",
    "start_binding",
    "tampered_body",
    "timestamp",
    "unplug",
    "unsigned_request",
    "wrong_key",
]
