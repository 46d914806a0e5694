"""Who sent a device request: RFC 9421 HTTP Message Signatures checked against the device certificate (Req 9).

Every device request is signed by the device that originates it (`binding/signing.py` is the client side):
`ecdsa-p256-sha256`, keyid = LFDI, covering at least `@method`, `@target-uri` and — when there is a body —
`content-digest` (RFC 9530), with `created` and `nonce`. Covering more (`@authority`, `date`, …) is fine.

The checks run cheapest first, so that junk costs neither a query nor an ECDSA verification:

1. Signature-Input and Signature present and parseable, exactly one signature, `alg` (if given)
   ecdsa-p256-sha256, keyid 40 hex digits, `created` within ±DEVICE_SIGNATURE_WINDOW_SECONDS of the server
   clock (NF.1), a nonce, the required components covered. All of these read nothing but the request.
2. One query (a prepared statement): the keyid is a registered, *enabled* device whose certificate has not
   expired. It is read on every request, so disabling a device takes effect on its next request.
3. From a trusted TLS-terminating proxy only (DEVICE_TRUSTED_PROXIES), the client certificate it verified:
   the signer's own — or, for an EUMD, that of the enabled ESCI relaying for it (its premise's ESCI, for an
   EUMD at a premise), since the ESCI relays the EUMD's signed requests unchanged over its own TLS
   connection. The relay is `request.user.relay`.
4. Content-Digest against the body (a hash), then the ECDSA signature with the certificate's public key.
5. Only then is the nonce recorded (PostgreSQL, unique per device): recording it before the signature
   verified would let anyone burn a device's nonces. A view that `defers_nonce` (the plug-in) records it
   with its own first write instead (`request.deferred_nonce`, binding/nonces.py), writing nothing before.

Exactly one signature is accepted. Labels are not signed, and a device signs once; a second signature
(added by a proxy, say) would have to be chosen by its unsigned label, which is a way to confuse a verifier.
"""

import dataclasses
import datetime as dt
import hashlib
import ipaddress
import urllib.parse
from functools import lru_cache

import http_sf
import structlog
from cryptography.exceptions import InvalidSignature as CryptographyInvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from http_message_signatures import (
    ContentDigest,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from binding.identity import certificate_lfdi, load_certificate, normalize_lfdi
from binding.models import Device, DeviceKind
from binding.nonces import DeferredNonce, Replayed
from pevportal.prepared import SelectRelated

log = structlog.get_logger(__name__)

ALGORITHM = algorithms.ECDSA_P256_SHA256
REQUIRED_COMPONENTS = ("@method", "@target-uri")
NONCE_MAX_LENGTH = 128  # UsedNonce.nonce
PUBLIC_KEY_CACHE_SIZE = 50_000  # more than the devices one process serves at the evening peak
WWW_AUTHENTICATE = 'Signature realm="device-api"'


class SignatureRefused(exceptions.AuthenticationFailed):
    """A 401 whose `reason` (the detail's code) says which check failed; the catalogue adds server_time."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail, code=reason)


class DevicePrincipal:
    """`request.user` for a signed device request: authenticated, but nobody's login and no staff rights."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, device: Device, relay: Device | None = None, signed_at: dt.datetime | None = None):
        self.device = device
        self.relay = relay
        # The signature's `created`: the device's clock when it signed (metering flags drift; NF.1).
        self.signed_at = signed_at

    def __str__(self) -> str:
        return str(self.device)


@dataclasses.dataclass(frozen=True)
class _Signature:
    label: str
    components: list[tuple[str, dict]]
    params: dict


@dataclasses.dataclass(frozen=True)
class DjangoMessage:
    """A Django request as http-message-signatures reads a message: method, absolute URL, headers.

    The URL is the one the client addressed — scheme from SECURE_PROXY_SSL_HEADER and host from
    USE_X_FORWARDED_HOST behind a proxy (docs/device-proxy.md) — so `@target-uri` matches what was signed.
    """

    method: str
    url: str
    headers: object

    @classmethod
    def from_request(cls, request: HttpRequest) -> "DjangoMessage":
        return cls(method=request.method, url=request.build_absolute_uri(), headers=request.headers)


class _DeviceKey(HTTPSignatureKeyResolver):
    def __init__(self, lfdi: str, public_key: ec.EllipticCurvePublicKey):
        self.lfdi = lfdi
        self.public_key = public_key

    def resolve_public_key(self, key_id: str):
        return self.public_key if normalize_lfdi(key_id) == self.lfdi else None


class DeviceSignatureAuthentication(BaseAuthentication):
    """DRF authentication for the device API: `request.user` a DevicePrincipal, `request.auth` the Device."""

    def authenticate(self, request):
        now = timezone.now()
        http_request = request._request
        body = http_request.body
        signature = _parse_signature(http_request)
        lfdi = _check_parameters(signature, now)
        _check_coverage(signature, body, http_request)
        device = _enabled_device(lfdi, now)
        relay = _forwarded_certificate_relay(http_request, device)
        _check_digest(http_request, body)
        _verify(http_request, device)
        created = dt.datetime.fromtimestamp(signature.params["created"], tz=dt.UTC)
        nonce = DeferredNonce(device, signature.params["nonce"], created)
        defers_nonce = getattr((request.parser_context or {}).get("view"), "defers_nonce", None)
        if defers_nonce is not None and defers_nonce(request):
            request.deferred_nonce = nonce
        else:
            try:
                nonce.record()
            except Replayed:
                raise replayed(device) from None
        return DevicePrincipal(device, relay, created), device

    def authenticate_header(self, request) -> str:
        return WWW_AUTHENTICATE


# --- 1. The request alone -----------------------------------------------------------------------------


def _parse_signature(request: HttpRequest) -> _Signature:
    headers = request.headers
    if "Signature-Input" not in headers or "Signature" not in headers:
        raise _refused(
            "unsigned",
            "unsigned request: device requests need Signature-Input and Signature headers (RFC 9421)",
        )
    try:
        inputs = _dictionary(headers["Signature-Input"])
        signatures = _dictionary(headers["Signature"])
    except ValueError as exc:
        raise _refused(
            "malformed_signature", f"Signature-Input or Signature is not a valid dictionary: {exc}"
        ) from None
    if len(inputs) != 1 or len(signatures) != 1:
        raise _refused(
            "multiple_signatures",
            f"exactly one signature expected; found {len(inputs)} in Signature-Input, "
            f"{len(signatures)} in Signature",
        )
    [(label, (components, params))] = inputs.items()
    if label not in signatures:
        raise _refused(
            "malformed_signature", f"Signature-Input has label {label!r}, Signature {', '.join(signatures)!r}"
        )
    value, _ = signatures[label]
    if not isinstance(components, list) or not isinstance(value, bytes):
        raise _refused(
            "malformed_signature",
            "Signature-Input must hold an inner list of components, Signature a byte sequence",
        )
    return _Signature(label, components, params)


def _dictionary(value: str) -> dict:
    def reject_duplicate(key: str, context: str) -> None:
        if context == "dictionary":
            raise ValueError(f"label {key!r} appears twice")

    parsed = http_sf.parse(value.encode("latin-1"), tltype="dictionary", on_duplicate_key=reject_duplicate)
    if not isinstance(parsed, dict) or not parsed:
        raise ValueError("empty")
    return parsed


def _check_parameters(signature: _Signature, now: dt.datetime) -> str:
    """The signature's metadata; the canonical LFDI it claims."""
    params = signature.params
    if "alg" in params and params["alg"] != ALGORITHM.algorithm_id:
        raise _refused(
            "unsupported_algorithm", f"alg must be {ALGORITHM.algorithm_id}, got {params['alg']!r}"
        )
    keyid = params.get("keyid")
    try:
        lfdi = normalize_lfdi(keyid)
    except ValueError:
        raise _refused(
            "bad_keyid", f"keyid must be the device's LFDI (40 hex digits), got {keyid!r}"
        ) from None

    window = settings.DEVICE_SIGNATURE_WINDOW_SECONDS
    created = params.get("created")
    if type(created) is not int:
        raise _refused("malformed_signature", "created is missing or not an integer (Unix seconds)", lfdi)
    # Whole seconds on both sides: `created` is an integer, the device clock keeps UTC to 1 s (NF.1).
    offset = created - int(now.timestamp())
    if offset < -window:
        raise _refused(
            "expired",
            f"signature expired: created is {-offset} s before server time (limit ±{window} s)",
            lfdi,
        )
    if offset > window:
        raise _refused(
            "created_in_future",
            f"signature created in the future: created is {offset} s after server time (limit ±{window} s); "
            "check the device clock against server_time",
            lfdi,
        )
    expires = params.get("expires")
    if expires is not None and (type(expires) is not int or expires < now.timestamp()):
        raise _refused("expired", "signature expired: its expires parameter has passed", lfdi)

    nonce = params.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise _refused("missing_nonce", "signature has no nonce: every device signature carries one", lfdi)
    if len(nonce) > NONCE_MAX_LENGTH:
        raise _refused("missing_nonce", f"nonce longer than {NONCE_MAX_LENGTH} characters", lfdi)
    return lfdi


def _check_coverage(signature: _Signature, body: bytes, request: HttpRequest) -> None:
    covered = {name for name, component_params in signature.components if not component_params}
    missing = [name for name in REQUIRED_COMPONENTS if name not in covered]
    # A digest member (`"content-digest";key="sha-256"`) protects the body as well as the whole field does.
    covers_digest = any(
        name == "content-digest" and set(component_params) <= {"sf", "key"}
        for name, component_params in signature.components
    )
    if body and not covers_digest:
        missing.append("content-digest")
    if missing:
        raise _refused(
            "insufficient_coverage",
            f"signature must cover {', '.join(missing)}"
            + (" (the request has a body)" if "content-digest" in missing else ""),
            signature.params.get("keyid"),
        )
    if body and "Content-Digest" not in request.headers:
        raise _refused("digest_mismatch", "the request has a body but no Content-Digest header")


# --- 2. The device ------------------------------------------------------------------------------------


# Every signed request reads it: a prepared statement, as the ORM's compilation of this join cost more than
# running it (pevportal/prepared.py). The premise comes along (every ESCI request checks it), with its
# default tariff (the live panel's time zone).
_DEVICE = SelectRelated(Device, "premise__default_tariff", by=["lfdi"])


def _enabled_device(lfdi: str, now: dt.datetime) -> Device:
    device = _DEVICE.get(lfdi)
    if device is None:
        raise _refused("unknown_device", f"no device is registered with LFDI {lfdi}", lfdi)
    if not device.enabled:
        raise _refused("device_disabled", f"device {lfdi} is disabled", lfdi)
    if device.not_after < now:
        raise _refused(
            "certificate_expired",
            f"the certificate of device {lfdi} expired on {device.not_after:%Y-%m-%d}",
            lfdi,
        )
    return device


# --- 3. The TLS client certificate a trusted proxy forwarded ------------------------------------------


def _forwarded_certificate_relay(request: HttpRequest, device: Device) -> Device | None:
    """Check the TLS client certificate a trusted proxy forwarded; the ESCI relaying for an EUMD, if any.

    From any other address the header is ignored: anyone could send it.
    """
    header = request.headers.get(settings.DEVICE_CLIENT_CERT_HEADER)
    if not header or not _from_trusted_proxy(request.META.get("REMOTE_ADDR", "")):
        return None
    tls_lfdi = _forwarded_certificate_lfdi(header)
    if tls_lfdi is None:
        raise _refused(
            "client_certificate_mismatch", "the forwarded TLS client certificate is unreadable", device.lfdi
        )
    if tls_lfdi == device.lfdi:
        return None
    if device.kind == DeviceKind.EUMD:
        relay = Device.objects.filter(lfdi=tls_lfdi, kind=DeviceKind.ESCI, enabled=True).first()
        if relay is not None and device.premise_id in (None, relay.premise_id):
            return relay
    raise _refused(
        "client_certificate_mismatch",
        f"TLS client certificate (LFDI {tls_lfdi}) is neither the signing device's ({device.lfdi}) "
        "nor that of an ESCI relaying for it",
        device.lfdi,
    )


def _from_trusted_proxy(remote_addr: str) -> bool:
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(address in network for network in _trusted_networks(tuple(settings.DEVICE_TRUSTED_PROXIES)))


@lru_cache(maxsize=8)
def _trusted_networks(entries: tuple[str, ...]) -> tuple:
    """Addresses or CIDR networks, e.g. `10.0.0.5` or `10.0.0.0/24`."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


@lru_cache(maxsize=4096)
def _forwarded_certificate_lfdi(header: str) -> str | None:
    """The LFDI of a forwarded PEM certificate, URL-encoded (nginx's $ssl_client_escaped_cert) or not."""
    try:
        return certificate_lfdi(load_certificate(urllib.parse.unquote(header).encode()))
    except ValueError:
        return None


# --- 4. Body and signature ----------------------------------------------------------------------------


def _check_digest(request: HttpRequest, body: bytes) -> None:
    """A hash before the ECDSA verification; a present digest is checked even for an empty body."""
    header = request.headers.get("Content-Digest")
    if header is None:
        return
    try:
        ContentDigest.verify(header, body)
    except InvalidSignature as exc:
        raise _refused("digest_mismatch", f"Content-Digest does not match the body ({exc})") from None


def _verify(request: HttpRequest, device: Device) -> None:
    verifier = HTTPMessageVerifier(
        signature_algorithm=ALGORITHM, key_resolver=_DeviceKey(device.lfdi, device_public_key(device))
    )
    # `created` was checked above against the ±window; the library's own age and skew checks agree with it.
    verifier.max_clock_skew = dt.timedelta(seconds=settings.DEVICE_SIGNATURE_WINDOW_SECONDS)
    try:
        verifier.verify(DjangoMessage.from_request(request), max_age=None)
    except InvalidSignature as exc:
        if isinstance(exc.__cause__, CryptographyInvalidSignature):
            detail = (
                f"signature does not verify with the certificate of device {device.lfdi} "
                f"(signed for {request.method} {request.build_absolute_uri()}?)"
            )
        else:
            detail = f"signature does not verify: {exc}"
        raise _refused("bad_signature", detail, device.lfdi) from None


_public_keys: dict[tuple[str, str], ec.EllipticCurvePublicKey] = {}


def device_public_key(device: Device) -> ec.EllipticCurvePublicKey:
    """The device certificate's public key, parsed once per process (keyed by LFDI and certificate hash)."""
    cache_key = (device.lfdi, hashlib.sha256(device.certificate_pem.encode()).hexdigest())
    public_key = _public_keys.get(cache_key)
    if public_key is None:
        if len(_public_keys) >= PUBLIC_KEY_CACHE_SIZE:
            _public_keys.clear()
        public_key = _public_keys[cache_key] = load_certificate(device.certificate_pem).public_key()
    return public_key


def replayed(device: Device) -> SignatureRefused:
    """The 401 of a request whose nonce the device already used."""
    return _refused("replayed", "nonce already used: this request was replayed", device.lfdi)


def _refused(reason: str, detail: str, keyid: str | None = None) -> SignatureRefused:
    log.info("device_signature_refused", reason=reason, keyid=keyid, detail=detail)
    return SignatureRefused(reason, detail)


class DeviceSignatureScheme(OpenApiAuthenticationExtension):
    """The security requirement the device endpoints show in the OpenAPI schema."""

    target_class = DeviceSignatureAuthentication
    name = "deviceSignature"

    def get_security_definition(self, auto_schema):
        # OpenAPI 3 has no scheme for HTTP Message Signatures; describe the headers on the closest fit.
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Signature",
            "description": (
                "RFC 9421 HTTP Message Signature by the device (docs/device-api.md): `Signature-Input` and "
                "`Signature` headers, algorithm `ecdsa-p256-sha256`, `keyid` = the device's LFDI, `created` "
                f"within ±{settings.DEVICE_SIGNATURE_WINDOW_SECONDS} s of server time and a unique `nonce`, "
                "covering `@method`, `@target-uri` and, with a body, `content-digest` (RFC 9530, sha-256)."
            ),
        }
