"""A device simulator and conformance kit: an ESCI, its EUMD and a PEV over real signed HTTP.

It plays the device side of scenario 1 steps 5–16 and scenario 2 (docs/device-api.md) against any server that
speaks the device API — this portal under `make run`, pytest's live server, or a vendor's sandbox — and checks
every answer against the contract: an answer that departs from it raises `ConformanceError`. It talks to the
server only over HTTP and never reads the portal's database, so it can run anywhere the device keys are.

The PEV keeps its P-256 key (and what it learnt at commissioning) in a state directory, so a later run
re-binds with a proof instead of commissioning again.
"""

import base64
import datetime as dt
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

from binding import jws as utility_jws
from binding import proofs
from binding.identity import certificate_lfdi
from binding.signing import DeviceSigner

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
JWKS_PATH = "/.well-known/jwks.json"
API = "/device/v1"
FALLBACK = "premise_default_rate"
GENERIC_REASON = "not_validated"
TIMEOUT_SECONDS = 10


class SimulatorError(Exception):
    """The simulator cannot go on: a missing key file, a PEV that was never commissioned, a bad argument."""


class ConformanceError(SimulatorError):
    """The server's answer departs from the device API contract (status, state, body or utility signature)."""

    def __init__(self, step: str, problem: str, response: requests.Response | None = None):
        self.step = step
        self.problem = problem
        self.response = response
        message = f"{step}: {problem}"
        if response is not None:
            message += f" (HTTP {response.status_code}: {_excerpt(response)})"
        super().__init__(message)


def timestamp(moment: dt.datetime) -> str:
    """The device API's time format: UTC to the second, `YYYY-MM-DDTHH:MM:SSZ`."""
    return moment.astimezone(dt.UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not TIMESTAMP.match(value):
        return None
    return dt.datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=dt.UTC)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- Devices ------------------------------------------------------------------------------------------------


@dataclass
class SimulatedDevice:
    """An ESCI or an EUMD: its LFDI (the keyid of its signatures) and its private key."""

    lfdi: str
    private_key: ec.EllipticCurvePrivateKey
    signer: DeviceSigner = field(init=False, repr=False)

    def __post_init__(self):
        self.signer = DeviceSigner(self.lfdi, self.private_key)

    @classmethod
    def from_pem_files(cls, key_path: Path | str, cert_path: Path | str) -> "SimulatedDevice":
        """A device from its key (PKCS#8 PEM) and certificate (PEM) files; the certificate gives the LFDI."""
        try:
            key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
            certificate = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
        except (OSError, ValueError) as error:
            raise SimulatorError(
                f"cannot load device key {key_path} / certificate {cert_path}: {error}"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise SimulatorError(f"{key_path}: a device key must be EC P-256")
        if key.public_key().public_numbers() != certificate.public_key().public_numbers():
            raise SimulatorError(f"{key_path} is not the key of the certificate {cert_path}")
        return cls(certificate_lfdi(certificate), key)


class SimulatedPev:
    """A PEV: a P-256 key pair, the proofs and acknowledgements it signs, what it accepted at commissioning.

    With a state directory the key (`pev-<VIN>.key.pem`, mode 0600) and the state (`pev-<VIN>.json`) persist,
    so the next run re-binds. The PEV refuses parameters it cannot verify with the utility's published keys.
    """

    def __init__(self, vin: str, private_key=None, *, state_dir: Path | str | None = None):
        self.vin = vin
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.state: dict = {}
        if self.state_dir is not None and self._key_path.exists():
            private_key = serialization.load_pem_private_key(self._key_path.read_bytes(), password=None)
            if self._state_path.exists():
                self.state = json.loads(self._state_path.read_text())
        self.private_key = private_key or ec.generate_private_key(ec.SECP256R1())
        if self.state_dir is not None and not self._key_path.exists():
            self._write_key()

    @property
    def _key_path(self) -> Path:
        return self.state_dir / f"pev-{self.vin}.key.pem"

    @property
    def _state_path(self) -> Path:
        return self.state_dir / f"pev-{self.vin}.json"

    def _write_key(self) -> None:
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        descriptor = os.open(self._key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)

    def save(self) -> None:
        if self.state_dir is not None:
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._state_path.write_text(json.dumps(self.state, indent=2, sort_keys=True) + "\n")

    @property
    def commissioned(self) -> bool:
        """Whether the utility confirmed this PEV's key: from now on it proves itself with it."""
        return bool(self.state.get("commissioned_at"))

    @property
    def home_premise_id(self) -> str | None:
        return self.state.get("home_premise_id")

    @property
    def current_binding(self) -> dict | None:
        """The binding the PEV is plugged in under, as the last run left it: {binding_id, premise_id, ...}."""
        return self.state.get("binding")

    def public_jwk(self) -> dict:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }

    def sign(self, message: str) -> str:
        """ECDSA P-256 / SHA-256 over the UTF-8 message, in the JWS form: r‖s (64 bytes), base64url."""
        r, s = decode_dss_signature(self.private_key.sign(message.encode(), ec.ECDSA(hashes.SHA256())))
        return b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def proof(self, premise_id: str, esci_lfdi: str, plugged_in_at: str) -> str:
        """The re-binding proof (Req 28): ties this plug-in to this premise, this ESCI and this moment."""
        return self.sign(proofs.proof_message(self.vin, premise_id, esci_lfdi, plugged_in_at))

    def ack_signature(self, binding_id: str, parameters_version: str) -> str:
        """The PEV's acknowledgement of the parameters it received (steps 12–13; Req 19)."""
        return self.sign(proofs.ack_message(binding_id, parameters_version))

    def accept_parameters(self, parameters: dict, *, binding_id: str, premise_id: str) -> None:
        """Check verified `pev_parameters` are meant for this PEV and its key; refuse them otherwise."""
        step = "pev_parameters"
        _expect_fields(parameters, step, "typ", "binding_id", "pev_id", "premise_id", "program", "plan")
        _expect_fields(
            parameters, step, "parameters_version", "interval_seconds", "price_schedule", "cnf", "iat"
        )
        _expect_equal(parameters, step, typ="pev-parameters", binding_id=binding_id, pev_id=self.vin)
        _expect_equal(parameters, step, premise_id=premise_id)
        if _public_members(parameters["cnf"].get("jwk") if isinstance(parameters["cnf"], dict) else None) != (
            self.public_jwk()
        ):
            raise ConformanceError(
                step, "cnf.jwk is not this PEV's public key: the PEV refuses the parameters"
            )
        _expect_interval(parameters, step)
        _expect_price_schedule(parameters["price_schedule"], step)
        self.state["pending_parameters"] = parameters

    def commissioned_by(self, confirmation: dict, *, binding_id: str, premise_id: str, at: str) -> None:
        """The utility confirmed the binding: the PEV is commissioned and keeps its key for re-binding."""
        self.state.update(
            commissioned_at=at,
            home_premise_id=premise_id,
            parameters=self.state.pop("pending_parameters", None),
            confirmation=confirmation,
        )
        self.plugged_in(binding_id, premise_id, at)

    def plugged_in(self, binding_id: str, premise_id: str, plugged_in_at: str) -> None:
        self.state["binding"] = {
            "binding_id": binding_id,
            "premise_id": premise_id,
            "plugged_in_at": plugged_in_at,
        }
        self.state["last_plugged_in_at"] = plugged_in_at
        self.save()

    @property
    def last_plugged_in_at(self) -> str | None:
        """When this PEV last plugged in: a new plug-in must come at a later second."""
        return self.state.get("last_plugged_in_at")

    def unplugged(self) -> None:
        self.state.pop("binding", None)
        self.save()


# --- The server ---------------------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One request and its answer, for a scenario's trace."""

    sender: str
    method: str
    path: str
    status: int
    body: object

    def __str__(self) -> str:
        return f"{self.sender}: {self.method} {self.path} → {self.status} {json.dumps(self.body)[:200]}"


@dataclass
class SignedRequest:
    """A request signed once; sending it again is a replay."""

    method: str
    url: str
    headers: dict
    body: bytes | None


class Server:
    """The device API at `base_url`: signs and sends requests, keeps a trace, verifies utility JWS."""

    def __init__(
        self, base_url: str, *, session: requests.Session | None = None, timeout: float = TIMEOUT_SECONDS
    ):
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout
        self.trace: list[Exchange] = []
        self.clock_offset = dt.timedelta(0)
        self._jwks: dict | None = None
        self._last_plug_in: dt.datetime | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    def now(self) -> dt.datetime:
        """The server's clock as last seen (`sync_clock`), to the second."""
        return (dt.datetime.now(dt.UTC) + self.clock_offset).replace(microsecond=0)

    def plug_in_time(self, *, after: str | None = None) -> str:
        """A `plugged_in_at` for a new plug-in, later than every earlier one from this simulator and than
        `after`: the same ESCI, VIN and second would be a retry of the earlier plug-in (its natural key)."""
        moment = self.now()
        last = max(filter(None, [self._last_plug_in, parse_timestamp(after)]), default=None)
        if last is not None and moment <= last:
            next_second = last + dt.timedelta(seconds=1)
            server_clock = dt.datetime.now(dt.UTC) + self.clock_offset
            time.sleep(max(0.0, (next_second - server_clock).total_seconds()) + 0.01)
            moment = self.now()
        self._last_plug_in = moment
        return timestamp(moment)

    def prepare(
        self, device: SimulatedDevice, method: str, path: str, payload=None, *, headers: dict | None = None
    ) -> SignedRequest:
        """Sign a request as `device`: JSON body (if any), Content-Digest, Signature-Input and Signature."""
        url = self.url(path)
        body = None if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Accept": "application/json", **(headers or {})}
        if body is not None:
            headers["Content-Type"] = "application/json"
        headers.update(device.signer.sign(method, url, body=body, headers=headers))
        return SignedRequest(method, url, headers, body)

    def send(self, request: SignedRequest, *, sender: str = "device") -> requests.Response:
        response = self.session.request(
            request.method, request.url, headers=request.headers, data=request.body, timeout=self.timeout
        )
        self.trace.append(
            Exchange(
                sender,
                request.method,
                request.url.removeprefix(self.base_url),
                response.status_code,
                _body(response),
            )
        )
        return response

    def call(
        self,
        device: SimulatedDevice,
        method: str,
        path: str,
        payload=None,
        *,
        headers: dict | None = None,
        sender: str = "device",
    ) -> requests.Response:
        return self.send(self.prepare(device, method, path, payload, headers=headers), sender=sender)

    def sync_clock(self, device: SimulatedDevice) -> dt.datetime:
        """`GET /device/v1/time`: the server's UTC time; later timestamps (plugged_in_at) follow its clock."""
        step = "GET /device/v1/time"
        response = self.call(device, "GET", f"{API}/time", sender="esci")
        body = _expect_json(response, 200, step)
        server_time = parse_timestamp(body.get("server_time"))
        if server_time is None:
            raise ConformanceError(step, "server_time is not YYYY-MM-DDTHH:MM:SSZ", response)
        # The server's clock is somewhere in its second; a difference under a second is within NF.1 and
        # below the API's resolution, and correcting for it would only shift timestamps by one at random.
        offset = server_time + dt.timedelta(seconds=0.5) - dt.datetime.now(dt.UTC)
        self.clock_offset = offset if abs(offset) >= dt.timedelta(seconds=1) else dt.timedelta(0)
        return server_time

    def jwks(self, *, refresh: bool = False) -> dict:
        """The utility's published signing keys (unsigned GET, cached; refreshed for an unknown kid)."""
        if self._jwks is None or refresh:
            step = f"GET {JWKS_PATH}"
            response = self.session.get(self.url(JWKS_PATH), timeout=self.timeout)
            self.trace.append(Exchange("pev", "GET", JWKS_PATH, response.status_code, _body(response)))
            body = _expect_json(response, 200, step)
            keys = body.get("keys")
            if not isinstance(keys, list) or not keys:
                raise ConformanceError(step, "no keys published", response)
            for key in keys:
                if not isinstance(key, dict) or key.get("kty") != "EC" or key.get("crv") != "P-256":
                    raise ConformanceError(step, f"a utility key is not an EC P-256 JWK: {key}", response)
                if not key.get("kid") or "d" in key:
                    raise ConformanceError(step, "every key needs a kid, and none may hold private members")
            self._jwks = body
        return self._jwks

    def verify(self, token: object, step: str, *, typ: str | None = None, **expected) -> dict:
        """The payload of a utility-signed JWS (ES256, verified with the JWKS); ConformanceError otherwise."""
        if not isinstance(token, str):
            raise ConformanceError(step, "expected a JWS compact string")
        try:
            payload = utility_jws.verify(token, self.jwks())
        except utility_jws.InvalidUtilitySignature:
            # A key rotated since the JWKS was fetched: fetch it once more before refusing.
            try:
                payload = utility_jws.verify(token, self.jwks(refresh=True))
            except utility_jws.InvalidUtilitySignature as error:
                raise ConformanceError(
                    step, f"not verifiable with the utility's published keys: {error}"
                ) from None
        if not isinstance(payload, dict):
            raise ConformanceError(step, "the signed payload is not a JSON object")
        if typ is not None:
            expected["typ"] = typ
        _expect_equal(payload, step, **expected)
        return payload


# --- A premise: its ESCI and EUMD --------------------------------------------------------------------------


@dataclass
class Site:
    """A premise as the devices see it: the server, the premise ID, its ESCI and the EUMD it relays for."""

    server: Server
    premise_id: str
    esci: SimulatedDevice
    eumd: SimulatedDevice

    def esci_call(self, method: str, path: str, payload=None, **kwargs) -> requests.Response:
        return self.server.call(self.esci, method, path, payload, sender="esci", **kwargs)

    def eumd_call(self, method: str, path: str, payload=None, **kwargs) -> requests.Response:
        # The ESCI relays the EUMD's request unchanged: it is signed by the EUMD's own key (Req 9).
        return self.server.call(self.eumd, method, path, payload, sender="eumd", **kwargs)


@dataclass
class BindingResult:
    """What one plug-in came to, with every utility-signed item verified and decoded."""

    binding_id: str
    state: str
    kind: str | None
    plugged_in_at: str
    response: dict
    created: dict = field(default_factory=dict)
    request: dict = field(default_factory=dict)
    idempotency_key: str | None = None
    pev_parameters: dict | None = None
    eumd_discovery: dict | None = None
    pev_confirmation: dict | None = None
    eumd_confirmation: dict | None = None

    @property
    def bound(self) -> bool:
        return self.state == "bound"


@dataclass
class ReplayResult:
    first_status: int
    replay_status: int
    replay_body: dict


@dataclass
class Message:
    """A utility→device message, its signature verified."""

    id: str
    kind: str
    recipient: str
    recipient_id: str
    created_at: str
    payload: dict


# --- Scenarios ----------------------------------------------------------------------------------------------


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
    body = _expect_json(response, 201, "POST /device/v1/bindings")
    _expect_fields(body, "POST /device/v1/bindings", "binding_id", "state")
    _expect_uuid(body["binding_id"], "POST /device/v1/bindings")
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
    _expect_outcome(body, response, step, "awaiting_pev_ack")
    _expect_fields(body, step, "kind", "plugged_in_at", "expires_at", "pev_parameters")
    _expect_equal(body, step, kind="commissioning", plugged_in_at=plugged_in_at)
    _expect_timestamp(body, step, "expires_at")
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
    body = _expect_json(response, 200, step)
    _expect_equal(body, step, binding_id=result.binding_id, state="awaiting_eumd_ack")
    _expect_fields(body, step, "eumd_discovery")
    discovery = site.server.verify(
        body["eumd_discovery"],
        f"{step}: eumd_discovery",
        typ="eumd-discovery",
        binding_id=result.binding_id,
        eumd_lfdi=site.eumd.lfdi,
        pev_id=pev.vin,
        parameters_version=version,
    )
    _expect_interval(discovery, f"{step}: eumd_discovery")
    _expect_fields(discovery, f"{step}: eumd_discovery", "iat")
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
    body = _expect_json(response, 200, step)
    _expect_equal(body, step, binding_id=result.binding_id, state="bound")
    _expect_fields(body, step, "pev_confirmation")
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
    _expect_outcome(body, response, step, "bound")
    _expect_fields(body, step, "kind", "plugged_in_at", "eumd_confirmation", "pev_confirmation")
    _expect_equal(body, step, kind=expect_kind, plugged_in_at=plugged_in_at)
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
    _expect_interval(result.eumd_confirmation, f"{step}: eumd_confirmation")
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
    body = _expect_json(response, 201, step)
    _expect_fields(body, step, "binding_id", "state")
    _expect_outcome(body, response, step, "unbound")
    return BindingResult(
        body["binding_id"], "unbound", body.get("kind"), plugged_in_at, body, created=body, request=payload
    )


def binding_status(site: Site, binding_id: str) -> dict:
    """`GET /device/v1/bindings/{id}` as the ESCI that created it."""
    step = "GET /device/v1/bindings/{id}"
    response = site.esci_call("GET", f"{API}/bindings/{binding_id}")
    body = _expect_json(response, 200, step)
    _expect_fields(body, step, "binding_id", "state", "kind", "plugged_in_at")
    _expect_equal(body, step, binding_id=binding_id)
    return body


def unplug(
    site: Site, binding_id: str, *, unplugged_at: str | None = None, pev: SimulatedPev | None = None
) -> dict:
    """The PEV unplugs: the ESCI ends the binding."""
    step = "POST /device/v1/bindings/{id}/end"
    unplugged_at = unplugged_at or timestamp(site.server.now())
    response = site.esci_call("POST", f"{API}/bindings/{binding_id}/end", {"unplugged_at": unplugged_at})
    body = _expect_json(response, 200, step)
    _expect_equal(body, step, binding_id=binding_id, state="ended")
    if pev is not None:
        pev.unplugged()
    return body


def session(site: Site, pev: SimulatedPev, *, hold_seconds: float = 0) -> tuple[BindingResult, dict]:
    """Plug in, stay plugged for `hold_seconds`, unplug."""
    result = plug_in(site, pev)
    if hold_seconds:
        time.sleep(hold_seconds)
    return result, unplug(site, result.binding_id, pev=pev)


def replay(site: Site) -> ReplayResult:
    """Send one signed request twice: the second is a replay (same nonce) and must get 401, server_time."""
    request = site.server.prepare(site.esci, "GET", f"{API}/time")
    first = site.server.send(request, sender="esci")
    _expect_json(first, 200, "replay: first sending")
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
    body = _expect_json(response, 200, step)
    if not isinstance(body.get("messages"), list):
        raise ConformanceError(step, "messages is not a list", response)
    messages = []
    for item in body["messages"]:
        if not isinstance(item, dict):
            raise ConformanceError(step, "a message is not an object", response)
        _expect_fields(item, step, "id", "kind", "recipient", "recipient_id", "created_at", "jws")
        _expect_timestamp(item, step, "created_at")
        # The id is inside the signed payload, so an ESCI cannot pass one message off as another.
        payload = site.server.verify(item["jws"], f"{step}: message {item['id']}", message_id=item["id"])
        fields = ("id", "kind", "recipient", "recipient_id", "created_at")
        messages.append(Message(*(item[name] for name in fields), payload=payload))
    return messages


def ack_message(site: Site, message_id: str) -> dict:
    """`POST /device/v1/messages/{id}/ack`: idempotent."""
    step = "POST /device/v1/messages/{id}/ack"
    response = site.esci_call("POST", f"{API}/messages/{message_id}/ack", {})
    body = _expect_json(response, 200, step)
    _expect_equal(body, step, id=message_id)
    _expect_timestamp(body, step, "acked_at")
    return body


def expect_unauthorized(response: requests.Response, step: str) -> dict:
    """A 401 with an error code and the server's time, so a drifted device can resync."""
    body = _expect_json(response, 401, step)
    _expect_fields(body, step, "error", "server_time")
    _expect_timestamp(body, step, "server_time")
    return body


def expect_error(response: requests.Response, status: int, step: str) -> dict:
    body = _expect_json(response, status, step)
    _expect_fields(body, step, "error")
    return body


# --- Contract checks ----------------------------------------------------------------------------------------


def _body(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def _excerpt(response: requests.Response) -> str:
    return json.dumps(_body(response))[:300]


def _expect_json(response: requests.Response, status: int, step: str) -> dict:
    if response.status_code != status:
        raise ConformanceError(step, f"expected HTTP {status}", response)
    body = _body(response)
    if not isinstance(body, dict):
        raise ConformanceError(step, "the body is not a JSON object", response)
    return body


def _expect_fields(body: dict, step: str, *names: str) -> None:
    missing = [name for name in names if name not in body]
    if missing:
        raise ConformanceError(step, f"missing {', '.join(missing)} in {json.dumps(body)[:300]}")


def _expect_equal(body: dict, step: str, **expected) -> None:
    for name, value in expected.items():
        if body.get(name) != value:
            raise ConformanceError(step, f"{name} is {body.get(name)!r}, expected {value!r}")


def _expect_uuid(value: object, step: str) -> None:
    try:
        uuid.UUID(str(value))
    except ValueError:
        raise ConformanceError(step, f"binding_id {value!r} is not a UUID") from None


def _expect_timestamp(body: dict, step: str, name: str) -> None:
    if parse_timestamp(body.get(name)) is None:
        raise ConformanceError(step, f"{name} {body.get(name)!r} is not YYYY-MM-DDTHH:MM:SSZ")


def _expect_interval(body: dict, step: str) -> None:
    value = body.get("interval_seconds")
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0 or 3600 % value:
        raise ConformanceError(step, f"interval_seconds {value!r} is not a whole division of an hour")


def _expect_price_schedule(schedule: object, step: str) -> None:
    if not isinstance(schedule, list):
        raise ConformanceError(step, "price_schedule is not a list")
    for entry in schedule:
        if not isinstance(entry, dict) or set(entry) < {"start", "end", "period", "price"}:
            raise ConformanceError(step, f"price_schedule entry {entry!r} lacks start, end, period or price")
        if parse_timestamp(entry["start"]) is None or parse_timestamp(entry["end"]) is None:
            raise ConformanceError(step, f"price_schedule entry {entry!r} has a badly formed time")


def _expect_outcome(body: dict, response: requests.Response, step: str, state: str) -> None:
    """The binding reached `state`; an `unbound` answer must say only the generic reason and the fallback."""
    if body.get("state") == "unbound":
        _expect_equal(body, step, reason=GENERIC_REASON, fallback=FALLBACK)
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
                " commissioning window open, or commissioned with the key in --state-dir), and that the ESCI"
                " and EUMD are registered to the premise"
            )
        raise ConformanceError(step, f"state is {body.get('state')!r}, expected {state!r}{hint}", response)


def _public_members(jwk: object) -> dict | None:
    if not isinstance(jwk, dict):
        return None
    return {name: jwk.get(name) for name in ("kty", "crv", "x", "y")}


# --- Attacks ------------------------------------------------------------------------------------------------


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
    body = _expect_json(response, 201, step)
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


# --- The conformance kit ------------------------------------------------------------------------------------


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
    _expect_equal(body, "GET /device/v1/bindings/{id}", state=state)
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
