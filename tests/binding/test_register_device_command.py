"""`manage.py register_device`: register a certificate, sign a request or issue a key (Req 8, 22; BR.7)."""

import io
import re
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from django.core.management import CommandError, call_command

from binding import ca
from binding.identity import certificate_lfdi
from binding.models import Device
from pevportal.models import AuditRecord
from tests.binding.certificates import rsa_key, self_signed
from tests.factories import PevFactory, PremiseFactory

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("register_device", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def printed_identity(out: str) -> tuple[str, str]:
    lfdi = re.search(r"^LFDI: ([0-9a-f]{40})$", out, re.MULTILINE)
    sfdi = re.search(r"^SFDI: (\d{12})$", out, re.MULTILINE)
    assert lfdi, out
    assert sfdi, out
    return lfdi.group(1), sfdi.group(1)


def write_pem(path, certificate):
    path.write_bytes(certificate.public_bytes(Encoding.PEM))
    return path


def test_it_registers_a_certificate_and_prints_its_identity(device_ca, tmp_path):
    premise = PremiseFactory()
    _, certificate = ca.issue_key_and_certificate("esci-1")
    out, err = run(
        "--kind",
        "esci",
        "--premise",
        premise.premise_id,
        "--cert",
        write_pem(tmp_path / "c.pem", certificate),
    )
    lfdi, sfdi = printed_identity(out)
    device = Device.objects.get()
    assert (lfdi, sfdi) == (certificate_lfdi(certificate), device.sfdi_display)
    assert (device.kind, device.premise) == ("esci", premise)
    assert err == ""
    audit = AuditRecord.objects.get(action="device.registered")
    assert (audit.channel, audit.actor_label) == ("admin", "manage.py register_device")


def test_it_registers_a_manufacturers_certificate_with_a_note(device_ca, tmp_path):
    _, certificate = self_signed(common_name="Acme EUMD 12")
    pev = PevFactory()
    _, err = run(
        "--kind", "eumd", "--pev", pev.vin.lower(), "--cert", write_pem(tmp_path / "c.pem", certificate)
    )
    assert Device.objects.get().pev == pev
    assert "issued by CN=Acme EUMD 12, not the PEV Portal device CA" in err


def test_it_signs_a_request_and_writes_the_certificate_next_to_it(device_ca, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eumd-77")]))
        .sign(key, hashes.SHA256())
    )
    csr_path = tmp_path / "eumd-77.csr"
    csr_path.write_bytes(request.public_bytes(Encoding.PEM))
    out, _ = run("--kind", "eumd", "--premise", PremiseFactory().premise_id, "--csr", csr_path)
    written = tmp_path / "eumd-77.crt.pem"
    assert f"Certificate: {written}" in out
    certificate = x509.load_pem_x509_certificate(written.read_bytes())
    assert certificate.public_key() == key.public_key()
    assert ca.verify_issued_by_ca(certificate) is True
    assert printed_identity(out)[0] == certificate_lfdi(certificate) == Device.objects.get().lfdi


def test_it_issues_a_key_and_certificate_into_a_directory(device_ca, tmp_path):
    outdir = tmp_path / "new-esci"
    out, _ = run("--kind", "esci", "--premise", PremiseFactory().premise_id, "--issue", outdir)
    key_pem = (outdir / "key.pem").read_bytes()
    assert key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    assert stat.S_IMODE((outdir / "key.pem").stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_pem, password=None)
    certificate = x509.load_pem_x509_certificate((outdir / "cert.pem").read_bytes())
    assert certificate.public_key() == key.public_key()
    assert printed_identity(out)[0] == certificate_lfdi(certificate) == Device.objects.get().lfdi
    assert f"Key: {outdir / 'key.pem'}" in out


def test_it_never_overwrites_an_issued_key(device_ca, tmp_path):
    (tmp_path / "key.pem").write_text("an earlier device's key")
    with pytest.raises(CommandError, match=r"key.pem already exists; not overwriting it"):
        run("--kind", "esci", "--premise", PremiseFactory().premise_id, "--issue", tmp_path)
    assert (tmp_path / "key.pem").read_text() == "an earlier device's key"
    assert not (tmp_path / "cert.pem").exists()
    assert not Device.objects.exists()


def test_it_never_overwrites_a_signed_certificate(device_ca, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "esci-1")]))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "esci-1.csr.pem").write_bytes(request.public_bytes(Encoding.PEM))
    (tmp_path / "esci-1.crt.pem").write_text("kept")
    with pytest.raises(CommandError, match=r"esci-1.crt.pem already exists"):
        run("--kind", "esci", "--premise", PremiseFactory().premise_id, "--csr", tmp_path / "esci-1.csr.pem")
    assert (tmp_path / "esci-1.crt.pem").read_text() == "kept"
    assert not Device.objects.exists()


def test_it_registers_nothing_when_writing_the_files_fails(device_ca, tmp_path, monkeypatch):
    real_write = ca.write_private_file

    def disk_full_on_the_certificate(path, data, mode=0o600):
        if path.name == "cert.pem":
            raise OSError(28, "No space left on device", str(path))
        real_write(path, data, mode)

    monkeypatch.setattr(ca, "write_private_file", disk_full_on_the_certificate)
    with pytest.raises(
        CommandError, match=r"Could not write .*cert.pem: No space left on device; nothing registered"
    ):
        run("--kind", "esci", "--premise", PremiseFactory().premise_id, "--issue", tmp_path / "out")
    assert not (tmp_path / "out" / "key.pem").exists()
    assert not Device.objects.exists()
    assert not AuditRecord.objects.filter(action="device.registered").exists()


def test_it_refuses_an_unknown_premise(device_ca, tmp_path):
    with pytest.raises(CommandError, match="No premise with ID 'P-NOPE'"):
        run("--kind", "esci", "--premise", "P-NOPE", "--issue", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_it_refuses_an_unknown_vin(device_ca, tmp_path):
    with pytest.raises(CommandError, match="No PEV with VIN '1HGCM82633A004352'"):
        run("--kind", "eumd", "--pev", "1HGCM82633A004352", "--issue", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_it_refuses_an_esci_inside_a_pev(device_ca, tmp_path):
    with pytest.raises(CommandError, match="An ESCI belongs to a premise"):
        run("--kind", "esci", "--pev", PevFactory().vin, "--issue", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (device_ca / "ca-key.pem").exists()


def test_it_refuses_a_certificate_that_is_not_p256(device_ca, tmp_path):
    path = write_pem(tmp_path / "rsa.pem", self_signed(rsa_key())[1])
    with pytest.raises(
        CommandError, match=rf"{re.escape(str(path))}: The certificate's key must be EC P-256"
    ):
        run("--kind", "esci", "--premise", PremiseFactory().premise_id, "--cert", path)
    assert not Device.objects.exists()


def test_it_refuses_a_missing_file(device_ca, tmp_path):
    with pytest.raises(CommandError, match=r"nope\.pem: No such file or directory"):
        run("--kind", "esci", "--premise", PremiseFactory().premise_id, "--cert", tmp_path / "nope.pem")


def test_it_refuses_a_request_that_is_not_one(device_ca, tmp_path):
    path = write_pem(tmp_path / "x.csr", self_signed()[1])
    with pytest.raises(CommandError, match="Not a PEM certificate signing request"):
        run("--kind", "esci", "--premise", PremiseFactory().premise_id, "--csr", path)
    assert not (tmp_path / "x.crt.pem").exists()


def test_it_refuses_a_certificate_registered_already(device_ca, tmp_path):
    premise = PremiseFactory()
    path = write_pem(tmp_path / "c.pem", ca.issue_key_and_certificate("esci-1")[1])
    run("--kind", "esci", "--premise", premise.premise_id, "--cert", path)
    with pytest.raises(CommandError, match=f"already registered: ESCI .* at {premise.premise_id}"):
        run("--kind", "esci", "--premise", premise.premise_id, "--cert", path)
    assert Device.objects.count() == 1


def test_it_needs_exactly_one_source(device_ca, tmp_path):
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("--kind", "esci", "--premise", "P1", "--cert", tmp_path / "a", "--issue", tmp_path / "b")
