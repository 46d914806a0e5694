"""`python manage.py register_device`: register an ESCI or EUMD by its certificate (Req 8, 22; BR.2, BR.7).

    register_device --kind esci|eumd (--premise ID | --pev VIN) (--cert FILE | --csr FILE | --issue DIR)

- `--cert FILE.pem`: register a certificate the device already has — from our device CA or its maker's;
  the operator vouches for it (binding/ca.py). Nothing is written.
- `--csr FILE`: sign the device's PKCS#10 request with the device CA and register the certificate, which is
  written next to the request as `<name>.crt.pem` (`esci-7.csr` → `esci-7.crt.pem`) for loading onto the
  device.
- `--issue DIR`: for a device that cannot make its own key, a new P-256 key and certificate written to
  `DIR/key.pem` (PKCS#8, mode 0600) and `DIR/cert.pem`; existing files are never overwritten.

Prints `LFDI: <40 hex digits>` and `SFDI: <12 digits, zero-padded as on the label>`, then the files written.
Every error stops before anything is registered or written.
"""

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from binding import ca
from binding.devices import check_placement, register_device
from binding.identity import load_certificate
from binding.models import DeviceKind
from enrollment.models import Pev, Premise
from enrollment.vin import normalize_vin
from pevportal.models import Channel

ACTOR_LABEL = "manage.py register_device"
CSR_SUFFIXES = (".pem", ".csr", ".req")


class Command(BaseCommand):
    help = "Register an ESCI or EUMD by certificate, by signing its request, or by issuing it a key."

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=DeviceKind.values)
        place = parser.add_mutually_exclusive_group(required=True)
        place.add_argument("--premise", metavar="PREMISE_ID", help="the premise the device is installed at")
        place.add_argument("--pev", metavar="VIN", help="the PEV an EUMD sits inside (Req 21, BR.7)")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--cert", type=Path, metavar="FILE.pem", help="the device's certificate")
        source.add_argument("--csr", type=Path, metavar="FILE", help="the device's PKCS#10 request (PEM)")
        source.add_argument("--issue", type=Path, metavar="OUTDIR", help="issue a new key and certificate")

    def handle(self, *args, kind, premise, pev, cert, csr, issue, **options):
        premise_row, pev_row = _place(premise, pev)
        try:
            check_placement(kind, premise_row, pev_row)
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from None
        issuer_note = ""
        if cert is not None:
            certificate, outputs = _load(cert, load_certificate), []
            issuer_note = _issuer_note(cert, certificate)
        elif csr is not None:
            output = _csr_output(csr)
            _refuse_existing([output])
            certificate = _load(csr, ca.sign_csr)
            outputs = [("Certificate", output, _pem(certificate), 0o644)]
        else:
            if issue.exists() and not issue.is_dir():
                raise CommandError(f"{issue} is not a directory.")
            key_path, cert_path = issue / "key.pem", issue / "cert.pem"
            _refuse_existing([key_path, cert_path])
            name = f"{kind.upper()} {premise_row.premise_id if premise_row else pev_row.vin}"
            key, certificate = ca.issue_key_and_certificate(name)
            key_pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            outputs = [
                ("Key", key_path, key_pem, 0o600),
                ("Certificate", cert_path, _pem(certificate), 0o644),
            ]
        device = self._register(kind, certificate, premise_row, pev_row, outputs)
        self.stdout.write(f"LFDI: {device.lfdi}")
        self.stdout.write(f"SFDI: {device.sfdi_display}")
        for label, path, _, _ in outputs:
            self.stdout.write(f"{label}: {path}")
        if issuer_note:
            self.stderr.write(issuer_note)

    def _register(self, kind, certificate, premise, pev, outputs):
        """Register and write the files in one go: a failed write rolls the registration back, and a failed
        registration leaves no files behind (an issued key without its device row would be an orphan)."""
        written: list[Path] = []
        try:
            with transaction.atomic():
                device = register_device(
                    kind, certificate, premise, pev, channel=Channel.ADMIN, actor_label=ACTOR_LABEL
                )
                for _, path, data, mode in outputs:
                    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    ca.write_private_file(path, data, mode)
                    written.append(path)
        except BaseException as exc:
            _remove(written)
            if isinstance(exc, ValidationError):
                raise CommandError(exc.messages[0]) from None
            if isinstance(exc, OSError):
                message = f"Could not write {exc.filename}: {exc.strerror}; nothing registered."
                raise CommandError(message) from None
            raise
        return device


def _place(premise_id: str | None, vin: str | None) -> tuple[Premise | None, Pev | None]:
    if premise_id is not None:
        premise = Premise.objects.filter(premise_id=premise_id.strip()).first()
        if premise is None:
            raise CommandError(f"No premise with ID {premise_id!r}.")
        return premise, None
    pev = Pev.objects.filter(vin=normalize_vin(vin)).first()
    if pev is None:
        raise CommandError(f"No PEV with VIN {vin!r}: a PEV is known once it has been enrolled.")
    return None, pev


def _load(path: Path, parse):
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None
    try:
        return parse(data)
    except ValueError as exc:
        raise CommandError(f"{path}: {exc}") from None


def _issuer_note(path: Path, certificate) -> str:
    """A note for the operator when the certificate comes from another issuer (accepted on their word)."""
    try:
        issued_here = ca.verify_issued_by_ca(certificate)
    except ValueError as exc:
        raise CommandError(f"{path}: {exc}") from None
    if issued_here:
        return ""
    return (
        f"Note: issued by {certificate.issuer.rfc4514_string()}, not the PEV Portal device CA; "
        "registered on your word."
    )


def _csr_output(csr: Path) -> Path:
    name = csr.name
    while name.endswith(CSR_SUFFIXES) and "." in name[1:]:
        name = name[: name.rindex(".")]
    return csr.with_name(f"{name}.crt.pem")


def _refuse_existing(paths: list[Path]) -> None:
    for path in paths:
        if path.exists():
            raise CommandError(f"{path} already exists; not overwriting it.")


def _pem(certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
