"""What a PEV signs, and checking it (Req 19, 28).

The PEV holds a P-256 key pair; at commissioning it presents the public half as a JWK, and afterwards every
re-binding carries a proof made with the private half. A signature is ECDSA P-256 / SHA-256 in the JWS form:
the raw r‖s (64 bytes), base64url without padding. A VIN is printed on the windshield, so a VIN alone never
earns a rate: the proof does.
"""

import base64
import binascii
import functools
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

SIGNATURE_BYTES = 64
COORDINATE_BYTES = 32
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class InvalidPevKey(ValueError):
    """The offered key is not a public P-256 JWK."""


def proof_message(vin: str, premise_id: str, esci_lfdi: str, plugged_in_at: str) -> str:
    """What a re-binding proof signs: ties it to one plug-in, at one premise, through one ESCI."""
    return f"{vin}|{premise_id}|{esci_lfdi}|{plugged_in_at}"


def ack_message(binding_id: str, parameters_version: str) -> str:
    """What the PEV signs to acknowledge the parameters it received at commissioning (steps 12–13)."""
    return f"{binding_id}|{parameters_version}"


def public_jwk(value: object) -> dict:
    """The public P-256 JWK in `value`, normalised to its four members; InvalidPevKey otherwise."""
    if not isinstance(value, dict) or value.get("kty") != "EC" or value.get("crv") != "P-256":
        raise InvalidPevKey("pev_public_key must be an EC P-256 JWK")
    if "d" in value:
        raise InvalidPevKey("pev_public_key must not contain the private key")
    try:
        key = ECKey.import_key({"kty": "EC", "crv": "P-256", "x": value.get("x"), "y": value.get("y")})
    except (JoseError, ValueError, TypeError) as error:
        raise InvalidPevKey(f"pev_public_key is not a valid P-256 point: {error}") from error
    return key.as_dict(private=False)


def thumbprint(jwk: dict) -> str:
    """RFC 7638 thumbprint: how CSRs and logs name a PEV key."""
    return ECKey.import_key(jwk).thumbprint()


def verifies(jwk: dict | None, message: str, signature: str) -> bool:
    """Whether `signature` (r‖s, base64url) is the holder of `jwk` signing `message`."""
    raw = _b64url_decode(signature)
    if raw is None or len(raw) != SIGNATURE_BYTES:
        return False
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:], "big")
    try:
        public_key = _public_key(jwk["x"], jwk["y"])
    except (JoseError, ValueError, TypeError, KeyError):
        return False
    try:
        public_key.verify(encode_dss_signature(r, s), message.encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def _public_key(x: str, y: str) -> ec.EllipticCurvePublicKey:
    # The stored JWK was checked by public_jwk() at commissioning; here only its point is rebuilt, straight
    # from the coordinates (a tenth of what a JWK import costs on every re-binding at the evening peak).
    coordinates = [_b64url_decode(value) for value in (x, y)]
    if any(value is None or len(value) != COORDINATE_BYTES for value in coordinates):
        raise ValueError("a P-256 coordinate is 32 bytes, base64url")
    return ec.EllipticCurvePublicNumbers(
        *(int.from_bytes(value, "big") for value in coordinates), ec.SECP256R1()
    ).public_key()


def digest(signature: str) -> str:
    """A verified proof's fingerprint, stored so that each proof is accepted once.

    ECDSA signatures are malleable ((r, s) and (r, n − s) both verify) and base64url has spare bits, so the
    fingerprint is taken over r and the low s, not over the text a device sent.
    """
    raw = _b64url_decode(signature) or b""
    r, s = raw[:32], int.from_bytes(raw[32:], "big")
    low_s = min(s, _P256_ORDER - s)
    return hashlib.sha256(r + low_s.to_bytes(32, "big")).hexdigest()


def _b64url_decode(value: str) -> bytes | None:
    if not isinstance(value, str) or not value or "=" in value:
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
