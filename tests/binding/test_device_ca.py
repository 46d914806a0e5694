"""The device CA: kept as files under DEVICE_CA_DIR, issues P-256 device certificates (Req 8, 22; BR.2)."""

import datetime as dt
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from binding import ca
from tests.binding.certificates import self_signed


def _csr(key=None, common_name="esci-0042") -> tuple:
    key = key or ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])
        )
        .sign(key, hashes.SHA256())
    )
    return key, request


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_it_creates_the_ca_on_first_use_with_private_modes(device_ca):
    assert not device_ca.exists()
    ca.issue_key_and_certificate("esci-1")
    assert _mode(device_ca) == 0o700
    assert _mode(device_ca / "ca-key.pem") == 0o600
    assert b"BEGIN PRIVATE KEY" in (device_ca / "ca-key.pem").read_bytes()
    assert b"BEGIN CERTIFICATE" in (device_ca / "ca-cert.pem").read_bytes()


def test_it_keeps_using_the_same_ca(device_ca):
    ca.issue_key_and_certificate("esci-1")
    first = (device_ca / "ca-key.pem").read_bytes()
    ca.issue_key_and_certificate("esci-2")
    assert (device_ca / "ca-key.pem").read_bytes() == first


def test_it_refuses_to_replace_half_a_ca(device_ca):
    ca.issue_key_and_certificate("esci-1")
    (device_ca / "ca-cert.pem").unlink()
    with pytest.raises(RuntimeError, match="incomplete"):
        ca.issue_key_and_certificate("esci-2")


def test_it_issues_p256_device_certificates_the_ca_signed(device_ca):
    key, certificate = ca.issue_key_and_certificate("esci-1")
    ca_cert = x509.load_pem_x509_certificate((device_ca / "ca-cert.pem").read_bytes())
    certificate.verify_directly_issued_by(ca_cert)
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    assert certificate.public_key().curve.name == "secp256r1"
    assert certificate.public_key() == key.public_key()
    assert certificate.signature_hash_algorithm.name == "sha256"
    assert certificate.subject.rfc4514_string() == "CN=esci-1"
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usages


def test_it_makes_device_certificates_last_20_years_with_random_serials(device_ca):
    _, first = ca.issue_key_and_certificate("esci-1")
    _, second = ca.issue_key_and_certificate("esci-2")
    lifetime = first.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=20 * 365 - 1) < lifetime <= dt.timedelta(days=20 * 365)
    assert first.serial_number != second.serial_number
    assert first.serial_number.bit_length() > 64


def test_it_signs_a_certificate_request_keeping_its_common_name(device_ca):
    key, request = _csr()
    certificate = ca.sign_csr(request.public_bytes(Encoding.PEM))
    assert certificate.public_key() == key.public_key()
    assert certificate.subject.rfc4514_string() == "CN=esci-0042"
    assert ca.verify_issued_by_ca(certificate) is True


def test_it_refuses_a_request_whose_signature_does_not_verify(device_ca):
    _, request = _csr(common_name="device-AAAA")
    tampered = x509.load_der_x509_csr(
        request.public_bytes(Encoding.DER).replace(b"device-AAAA", b"device-BBBB")
    )
    with pytest.raises(ValueError, match="signature does not verify"):
        ca.sign_csr(tampered.public_bytes(Encoding.PEM))


def test_it_refuses_a_request_for_another_curve(device_ca):
    _, request = _csr(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(ValueError, match="P-256"):
        ca.sign_csr(request.public_bytes(Encoding.PEM))


def test_it_refuses_a_request_without_a_common_name(device_ca):
    _, request = _csr(common_name="")
    with pytest.raises(ValueError, match="no common name"):
        ca.sign_csr(request.public_bytes(Encoding.PEM))


def test_it_refuses_a_file_that_is_not_a_request(device_ca):
    _, certificate = self_signed()
    with pytest.raises(ValueError, match="Not a PEM certificate signing request"):
        ca.sign_csr(certificate.public_bytes(Encoding.PEM))


def test_it_accepts_a_manufacturers_certificate_given_by_an_operator(device_ca):
    ca.load_or_create_ca()
    _, certificate = self_signed()
    assert ca.verify_issued_by_ca(certificate) is False


def test_it_does_not_create_a_ca_to_check_a_certificate(device_ca):
    _, certificate = self_signed()
    assert ca.verify_issued_by_ca(certificate) is False
    assert not (device_ca / "ca-key.pem").exists()


def test_it_refuses_an_expired_certificate(device_ca):
    now = dt.datetime.now(dt.UTC)
    _, certificate = self_signed(not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    with pytest.raises(ValueError, match="expired on"):
        ca.verify_issued_by_ca(certificate)


def test_it_refuses_a_certificate_not_yet_valid(device_ca):
    now = dt.datetime.now(dt.UTC)
    _, certificate = self_signed(not_before=now + dt.timedelta(days=1), not_after=now + dt.timedelta(days=30))
    with pytest.raises(ValueError, match="not valid before"):
        ca.verify_issued_by_ca(certificate)


def test_it_refuses_a_ca_certificate_as_a_device(device_ca):
    _, certificate = self_signed(ca=True)
    with pytest.raises(ValueError, match="CA certificate"):
        ca.verify_issued_by_ca(certificate)


def test_it_refuses_a_certificate_that_names_our_ca_without_its_signature(device_ca):
    _, ca_cert = ca.load_or_create_ca()
    _, forged = self_signed(issuer_name=ca_cert.subject)
    with pytest.raises(ValueError, match="signature does not verify"):
        ca.verify_issued_by_ca(forged)


def test_it_issues_certificates_openssl_verifies_against_the_ca(device_ca, tmp_path):
    _, certificate = ca.issue_key_and_certificate("esci-1")
    path = tmp_path / "cert.pem"
    path.write_bytes(certificate.public_bytes(Encoding.PEM))
    # Debian's openssl, an independent implementation, checks the chain, signature and client purpose.
    ca_file = str(device_ca / "ca-cert.pem")
    result = subprocess.run(
        ["openssl", "verify", "-purpose", "sslclient", "-CAfile", ca_file, str(path)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(": OK")
