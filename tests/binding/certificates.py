"""Certificates the device CA would never issue, for the tests that must refuse them."""

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def self_signed(
    key=None,
    *,
    hash_algorithm=None,
    common_name="foreign device",
    issuer_name=None,
    not_before=None,
    not_after=None,
    ca=False,
    signing_key=None,
) -> tuple:
    """(private key, certificate): by default a valid self-signed P-256 device certificate from a 'maker'."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signing_key or key, hash_algorithm or hashes.SHA256())
    )
    return key, certificate


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
