"""The server as the devices see it: signed requests and their trace, the utility's keys, a premise's
ESCI and EUMD, and what a plug-in, a replay or a message came to.
"""

import datetime as dt
import json
import time
from dataclasses import dataclass, field

import requests

from binding import jws as utility_jws
from binding.simulator.common import (
    API,
    JWKS_PATH,
    TIMEOUT_SECONDS,
    ConformanceError,
    parse_timestamp,
    response_body,
    timestamp,
)
from binding.simulator.contract import expect_equal, expect_json
from binding.simulator.devices import SimulatedDevice


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
                response_body(response),
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
        body = expect_json(response, 200, step)
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
            self.trace.append(
                Exchange("pev", "GET", JWKS_PATH, response.status_code, response_body(response))
            )
            body = expect_json(response, 200, step)
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
        expect_equal(payload, step, **expected)
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
