"""The utility's signature on everything it sends devices: compact JWS, ES256 (Req 9, 19, 26).

Devices verify parameters, confirmations and messages with the public key published at
`/.well-known/jwks.json`, so an ESCI relaying them cannot alter what the PEV or EUMD receives. The private key
is a PEM file (settings.UTILITY_SIGNING_KEY) outside the repository; development creates one on first use.
"""

import base64
import functools
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

ALGORITHM = "ES256"
P256_BYTES = 32  # r and s of an ES256 signature each take 32 bytes (RFC 7518 §3.4)


class InvalidUtilitySignature(ValueError):
    """A token that is not a valid utility JWS (tests and the simulator verify what the portal sends)."""


def signing_key() -> ECKey:
    # Cached by the setting's text: building a Path to look the key up cost more than the lookup.
    return _load_or_create(str(settings.UTILITY_SIGNING_KEY))


@functools.cache
def _load_or_create(location: str) -> ECKey:
    path = Path(location)
    if not path.exists():
        if settings.PRODUCTION:
            raise ImproperlyConfigured(f"UTILITY_SIGNING_KEY {path} does not exist")
        _create(path)
    key = ECKey.import_key(path.read_bytes())
    if key.curve_name != "P-256" or not key.is_private:
        raise ImproperlyConfigured(f"UTILITY_SIGNING_KEY {path} must be a P-256 private key")
    return key


def _create(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = ECKey.generate_key("P-256").as_pem(private=True)
    # O_EXCL: two processes starting at once must not each write a different key.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)


def key_id() -> str:
    """The RFC 7638 thumbprint of the signing key: the `kid` devices look up in the JWKS."""
    return _thumbprint(str(settings.UTILITY_SIGNING_KEY))


@functools.cache
def _thumbprint(location: str) -> str:
    # Every parameters and confirmation token carries it; computing it once per key file saves the hot path.
    return _load_or_create(location).thumbprint()


def sign(payload: dict) -> str:
    """`payload` as a compact JWS (RFC 7515) with the utility's key.

    Signed with cryptography directly rather than through joserfc's `serialize_compact`: the protected header
    never changes, and joserfc's checks of it on every call cost more than the ECDSA signature itself
    (measured: 110-160 µs a token against 66-81 µs; a re-binding signs two, bench/binding.py). Whatever
    reads our tokens goes through joserfc (`verify` below, the tests, the simulator), so the format stays
    checked against a library.
    """
    location = str(settings.UTILITY_SIGNING_KEY)
    body = json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True).encode()
    signing_input = _protected_header(location) + b"." + _base64url(body)
    r, s = decode_dss_signature(
        _load_or_create(location).private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
    )
    # JWS wants r‖s, fixed width, where cryptography gives DER (RFC 7518 §3.4).
    signature = r.to_bytes(P256_BYTES, "big") + s.to_bytes(P256_BYTES, "big")
    return (signing_input + b"." + _base64url(signature)).decode("ascii")


@functools.cache
def _protected_header(location: str) -> bytes:
    header = json.dumps({"alg": ALGORITHM, "kid": _thumbprint(location)}, separators=(",", ":"))
    return _base64url(header.encode())


def _base64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def jwks() -> dict:
    """The public key set served at /.well-known/jwks.json."""
    key = signing_key()
    public = key.as_dict(private=False)
    return {"keys": [{**public, "kid": key.thumbprint(), "use": "sig", "alg": ALGORITHM}]}


def verify(token: str, public_jwks: dict | None = None) -> dict:
    """The payload of a utility JWS, checked against the published key set (default: our own)."""
    keys = (public_jwks or jwks())["keys"]
    try:
        header = jws.extract_compact(token.encode()).protected
        matching = [k for k in keys if k.get("kid") == header.get("kid")]
        if header.get("alg") != ALGORITHM or not matching:
            raise InvalidUtilitySignature("unknown key or algorithm")
        result = jws.deserialize_compact(token, ECKey.import_key(matching[0]), algorithms=[ALGORITHM])
    except (JoseError, ValueError) as error:
        raise InvalidUtilitySignature(str(error)) from error
    return json.loads(result.payload)
