"""The utility's device CA (Req 8, 22; BR.2): a P-256 key and self-signed certificate kept as files under
`settings.DEVICE_CA_DIR` — `ca-key.pem` (mode 0600, PKCS#8, unencrypted: file permissions and the host are
its protection) and `ca-cert.pem` — created on first use in a directory of mode 0700. Never in the database.

Certificates it issues: EC P-256, ecdsa-with-SHA256, a random 159-bit serial, end-entity (CA:FALSE) with
digitalSignature + keyAgreement (ECDSA request signatures, ECDHE in TLS) and clientAuth. Devices are valid for
20 years — a meter or gateway's service life; IEEE 2030.5 expects device certificates to outlive the device
(it even allows "no expiry"), and a CSR swaps a failed device rather than renewing its certificate — and
never beyond the CA's own 40 years.

Certificates from elsewhere (`verify_issued_by_ca`): IEEE 2030.5 devices normally carry a manufacturer's
certificate, so a certificate an operator gives explicitly (`register_device --cert`, a CSR's swap) is
accepted whoever issued it — the operator vouches for it — provided it is P-256 / ecdsa-with-SHA256, an
end-entity certificate and within its validity. One that names our CA as issuer must verify under our key.
"""

import datetime as dt
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.utils import timezone

from binding.identity import check_algorithms

CA_KEY_FILE = "ca-key.pem"
CA_CERT_FILE = "ca-cert.pem"
CA_COMMON_NAME = "PEV Portal Device CA"
CA_VALIDITY = dt.timedelta(days=40 * 365)
DEVICE_VALIDITY = dt.timedelta(days=20 * 365)
# Tolerates a device whose clock is slightly behind the portal's when it first checks its certificate.
BACKDATE = dt.timedelta(minutes=5)


def ca_dir() -> Path:
    return Path(settings.DEVICE_CA_DIR)


def issue_device_certificate(public_key: ec.EllipticCurvePublicKey, common_name: str) -> x509.Certificate:
    """A device certificate for `public_key` (P-256 only), signed by the device CA."""
    _require_p256(public_key)
    if not common_name.strip():
        raise ValueError("A device certificate needs a common name.")
    ca_key, ca_cert = load_or_create_ca()
    now = timezone.now()
    not_after = min(now + DEVICE_VALIDITY, ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name.strip())]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    return builder.sign(ca_key, hashes.SHA256())


def sign_csr(csr_pem: bytes) -> x509.Certificate:
    """A device certificate for a PKCS#10 request, after checking the request's own signature (proof that
    the requester holds the private key) and that its key is P-256. The subject's common name is kept."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError:
        raise ValueError(
            "Not a PEM certificate signing request (expected -----BEGIN CERTIFICATE REQUEST-----)."
        ) from None
    if not csr.is_signature_valid:
        raise ValueError("The certificate signing request's signature does not verify.")
    public_key = csr.public_key()
    _require_p256(public_key)
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or not str(names[0].value).strip():
        raise ValueError("The certificate signing request has no common name (CN) in its subject.")
    return issue_device_certificate(public_key, str(names[0].value))


def issue_key_and_certificate(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new P-256 key and its device certificate, for devices that cannot make their own key."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    return private_key, issue_device_certificate(private_key.public_key(), common_name)


def verify_issued_by_ca(certificate: x509.Certificate, now: dt.datetime | None = None) -> bool:
    """Check a certificate an operator supplies; True when our CA issued it, False for another issuer.

    ValueError when it is not usable as a device certificate: wrong algorithms, a CA certificate, outside its
    validity, or naming our CA as issuer without our CA's signature (see the module docstring).
    """
    check_algorithms(certificate)
    now = now or timezone.now()
    if now < certificate.not_valid_before_utc:
        raise ValueError(
            f"The certificate is not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M:%SZ}."
        )
    if now >= certificate.not_valid_after_utc:
        raise ValueError(f"The certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M:%SZ}.")
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is not None and constraints.ca:
        raise ValueError("This is a CA certificate, not a device certificate.")
    ca_cert = _load_ca_certificate()
    if ca_cert is None or certificate.issuer != ca_cert.subject:
        return False
    try:
        certificate.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError):
        raise ValueError(
            f"The certificate names {CA_COMMON_NAME} as its issuer, but our CA's signature does not verify."
        ) from None
    return True


def load_or_create_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The CA key and certificate, created on first use; a file lock keeps two processes from both creating
    one (the loser's certificates would hang off a key that no longer exists)."""
    directory = ca_dir()
    key_path, cert_path = directory / CA_KEY_FILE, directory / CA_CERT_FILE
    if not (key_path.exists() and cert_path.exists()):
        with _locked(directory):
            if not (key_path.exists() and cert_path.exists()):
                _create_ca(key_path, cert_path)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return key, cert


def ca_certificate_pem() -> bytes:
    """The CA certificate (PEM), for devices and TLS terminators that must trust it."""
    return load_or_create_ca()[1].public_bytes(serialization.Encoding.PEM)


def _load_ca_certificate() -> x509.Certificate | None:
    """The CA certificate if the CA exists; checking a certificate never creates a CA."""
    path = ca_dir() / CA_CERT_FILE
    return x509.load_pem_x509_certificate(path.read_bytes()) if path.exists() else None


def _create_ca(key_path: Path, cert_path: Path) -> None:
    if key_path.exists() or cert_path.exists():
        # Half a CA (a lost certificate or key) must be repaired by a person, not silently replaced: every
        # device certificate already issued hangs off the existing key.
        raise RuntimeError(
            f"The device CA in {key_path.parent} is incomplete: "
            f"{CA_KEY_FILE} and {CA_CERT_FILE} must both exist."
        )
    key = ec.generate_private_key(ec.SECP256R1())
    now = timezone.now()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # The key file is created 0600 from the start (O_EXCL), so it is never readable by others, even briefly.
    write_private_file(key_path, key_pem)
    write_private_file(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def write_private_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create `path` with `mode` and write `data`; FileExistsError rather than overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed or (for 0644) not mattered; state the mode exactly
        with os.fdopen(fd, "wb", closefd=False) as file:
            file.write(data)
    finally:
        os.close(fd)


@contextmanager
def _locked(directory: Path):
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    with open(directory / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _require_p256(public_key) -> None:
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise ValueError("Device keys must be EC P-256 (secp256r1).")
