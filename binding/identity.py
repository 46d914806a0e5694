"""Device identity after IEEE 2030.5 §6.3 (Req 8, 22; BR.2): the certificate is the identity.

- LFDI: the first 160 bits of SHA-256 over the DER certificate, as 40 lowercase hex digits. Lowercase is the
  canonical form the database stores (a check constraint enforces it). `normalize_lfdi` accepts uppercase
  input — IEEE 2030.5's own examples print LFDIs in uppercase and operators copy them from labels — and
  returns the canonical form; anything that is not exactly 40 hex digits is refused.
- SFDI: the first 36 bits as an unsigned decimal integer with one check digit appended, so that the sum of
  all digits ≡ 0 (mod 10). The check digit is 0 when the sum already is a multiple of 10 — never "10". An
  LFDI with leading zero nibbles gives a short number: display it zero-padded to 12 digits
  (`Device.sfdi_display`).
- Certificates: EC P-256 keys signed with ecdsa-with-SHA256 only; `load_certificate` refuses the rest.
"""

import hashlib
import re

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import SignatureAlgorithmOID

LFDI_HEX_DIGITS = 40
SFDI_BITS = 36
SFDI_DISPLAY_DIGITS = 12

_LFDI = re.compile(r"[0-9a-f]{40}")


def lfdi(cert_der: bytes) -> str:
    """The Long-form Device Identifier of a DER certificate: 40 lowercase hex digits."""
    return hashlib.sha256(cert_der).hexdigest()[:LFDI_HEX_DIGITS]


def certificate_lfdi(certificate: x509.Certificate) -> str:
    return lfdi(certificate.public_bytes(Encoding.DER))


def normalize_lfdi(value: str) -> str:
    """The canonical (lowercase) LFDI, or ValueError when `value` is not 40 hex digits."""
    candidate = value.strip().lower() if isinstance(value, str) else ""
    if not _LFDI.fullmatch(candidate):
        raise ValueError(f"An LFDI is exactly {LFDI_HEX_DIGITS} hexadecimal digits; got {value!r}.")
    return candidate


def sfdi(lfdi: str) -> int:
    """The Short-form Device Identifier: the LFDI's first 36 bits in decimal, then the check digit."""
    prefix = int(normalize_lfdi(lfdi)[: SFDI_BITS // 4], 16)
    digit_sum = sum(int(d) for d in str(prefix))
    check = (10 - digit_sum % 10) % 10  # the outer "% 10" is what keeps a sum of 40 from giving "10"
    return prefix * 10 + check


def sfdi_is_valid(value: int) -> bool:
    """Whether an SFDI (typed from a device label, say) carries a correct check digit."""
    return value >= 0 and sum(int(d) for d in str(value)) % 10 == 0


def load_certificate(pem: bytes) -> x509.Certificate:
    """One PEM certificate, EC P-256 signed with ecdsa-with-SHA256; else ValueError saying what is wrong.

    A bundle of several certificates is refused rather than silently taking the first: the operator must say
    which certificate is the device's.
    """
    if isinstance(pem, str):
        pem = pem.encode()
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise ValueError("Not a PEM certificate (expected -----BEGIN CERTIFICATE-----).") from None
    if len(certificates) != 1:
        raise ValueError(f"Expected one certificate, found {len(certificates)}.")
    certificate = certificates[0]
    check_algorithms(certificate)
    return certificate


def check_algorithms(certificate: x509.Certificate) -> None:
    """ValueError unless the key is EC P-256 and the signature ecdsa-with-SHA256 (IEEE 2030.5 §6.11)."""
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError(
            f"The certificate's key must be EC P-256, not {type(key).__name__.removesuffix('PublicKey')}."
        )
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"The certificate's key must be on curve P-256 (secp256r1), not {key.curve.name}.")
    if certificate.signature_algorithm_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
        name = getattr(
            certificate.signature_algorithm_oid, "_name", certificate.signature_algorithm_oid.dotted_string
        )
        raise ValueError(f"The certificate must be signed with ecdsa-with-SHA256, not {name}.")
