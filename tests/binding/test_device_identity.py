"""IEEE 2030.5 §6.3 device identity: LFDI and SFDI, and which certificates identify a device (Req 22)."""

import subprocess

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from binding.identity import lfdi, load_certificate, normalize_lfdi, sfdi, sfdi_is_valid
from tests.binding.certificates import rsa_key, self_signed

VECTOR_LFDI = "3e4f45ab31edfe5b67e343e5e4562e31984e23e5"


def test_it_gives_the_published_sfdi_for_the_published_lfdi():
    assert sfdi(VECTOR_LFDI) == 167261211391


def test_it_takes_the_first_160_bits_of_sha256_over_the_der_bytes():
    # SHA-256 of the empty string is the best-known digest there is.
    assert lfdi(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4"


def test_it_agrees_with_openssls_fingerprint_of_the_certificate():
    _, certificate = self_signed()
    pem = certificate.public_bytes(Encoding.PEM)
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256"],  # noqa: S607 - Debian's openssl on PATH
        input=pem,
        capture_output=True,
        check=True,
    ).stdout.decode()
    fingerprint = out.strip().split("=", 1)[1].replace(":", "").lower()
    assert lfdi(certificate.public_bytes(Encoding.DER)) == fingerprint[:40]


def test_it_keeps_leading_zero_nibbles_short_and_displays_them_padded():
    # The first 36 bits are 0x00000001a = 26; digit sum 8, check digit 2.
    assert sfdi("00000001a" + "f" * 31) == 262
    assert sfdi("0" * 40) == 0
    assert f"{sfdi('00000001a' + 'f' * 31):012d}" == "000000000262"


def test_it_appends_check_digit_0_rather_than_10():
    # 0x000000013 = 19: digit sum 10 is already a multiple of 10.
    assert sfdi("000000013" + "0" * 31) == 190


def test_it_handles_the_largest_prefix():
    assert sfdi("f" * 40) == 687194767357


def test_it_normalises_uppercase_lfdis_to_the_stored_lowercase_form():
    assert normalize_lfdi(VECTOR_LFDI.upper()) == VECTOR_LFDI
    assert sfdi(VECTOR_LFDI.upper()) == 167261211391


@pytest.mark.parametrize(
    "value", ["", VECTOR_LFDI[:-1], VECTOR_LFDI + "0", "g" * 40, f" {VECTOR_LFDI[:-2]} x"]
)
def test_it_refuses_anything_but_40_hex_digits(value):
    with pytest.raises(ValueError, match="exactly 40 hexadecimal digits"):
        sfdi(value)


def test_it_checks_an_sfdi_typed_from_a_label():
    assert sfdi_is_valid(167261211391)
    assert not sfdi_is_valid(167261211392)


def test_it_loads_a_p256_certificate_signed_with_ecdsa_sha256():
    _, certificate = self_signed()
    assert load_certificate(certificate.public_bytes(Encoding.PEM)) == certificate


def test_it_refuses_an_rsa_certificate():
    _, certificate = self_signed(rsa_key())
    with pytest.raises(ValueError, match="must be EC P-256, not RSA"):
        load_certificate(certificate.public_bytes(Encoding.PEM))


def test_it_refuses_another_curve():
    _, certificate = self_signed(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(ValueError, match=r"curve P-256 \(secp256r1\), not secp384r1"):
        load_certificate(certificate.public_bytes(Encoding.PEM))


def test_it_refuses_a_p256_key_signed_with_sha384():
    _, certificate = self_signed(hash_algorithm=hashes.SHA384())
    with pytest.raises(ValueError, match="ecdsa-with-SHA256, not ecdsa-with-SHA384"):
        load_certificate(certificate.public_bytes(Encoding.PEM))


def test_it_refuses_something_that_is_not_a_certificate():
    with pytest.raises(ValueError, match="Not a PEM certificate"):
        load_certificate(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


def test_it_refuses_a_bundle_instead_of_guessing_which_certificate_is_the_device():
    bundle = b"".join(self_signed()[1].public_bytes(Encoding.PEM) for _ in range(2))
    with pytest.raises(ValueError, match="Expected one certificate, found 2"):
        load_certificate(bundle)
