"""Demo data for `make run`: real SCE tariffs, the demo programmes, a small CIS extract, and logins for a
customer and a CSR. Loading is idempotent — every step is an upsert — so `make run` can repeat it."""

from dataclasses import dataclass
from pathlib import Path

from allauth.account.models import EmailAddress
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from billing.tariffs import import_tariff_file
from binding.ca import issue_key_and_certificate, write_private_file
from binding.devices import register_device
from binding.identity import certificate_lfdi
from binding.models import Device, DeviceKind
from binding.simulator import Server, SimulatedDevice, SimulatedPev, SimulatorError, Site
from enrollment.cis import import_cis_rows, parse_cis_file
from enrollment.enrolling import EnrollmentRequest, enroll
from enrollment.models import AccountLink, Enrollment, Premise, ServicePlan
from enrollment.programs import import_programs_file
from pevportal.roles import CSR_GROUP

DATA = Path(settings.BASE_DIR) / "data"
# The demo premise's ESCI and EUMD keep their keys here, for `make simulate` (docs/device-api.md).
DEMO_DEVICES = Path(settings.BASE_DIR) / "var" / "demo-devices"
DEMO_PREMISE = "P1000001"
# Alice's Nissan Leaf, enrolled by the demo and waiting for its first plug-in; `make simulate` commissions it.
DEMO_VIN = "1N4AZ1CP5KC301234"
DEMO_PLAN = "ev-prime"


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str


# Demo passwords for a local, embedded demo only: load_demo refuses to run in production.
DEMO_LOGINS = [
    DemoLogin(
        "Customer Alice Nguyen (enroll at /my/enroll/: account 7001000001, ZIP 91105, phone ending 0101;"
        " a VIN to try: 5YJ3E1EA2KF317000)",
        "alice@example.com",
        "demo-alice-charges",
    ),
    DemoLogin("Customer service representative (Carol)", "carol@utility.example", "demo-carol-helps"),
]


def load_demo() -> list[DemoLogin]:
    if settings.PRODUCTION or not settings.DEBUG:
        raise ImproperlyConfigured("load_demo creates well-known logins: development (DEBUG) only")
    for path in sorted((DATA / "tariffs").glob("*.json")):
        import_tariff_file(path, actor_label="load_demo")
    import_programs_file(DATA / "programs.json", actor_label="load_demo")
    cis = DATA / "demo" / "cis.csv"
    parsed = parse_cis_file(cis)
    if parsed.errors:
        raise ImproperlyConfigured(f"demo CIS file is invalid: {parsed.errors[0]}")
    import_cis_rows(parsed, filename=cis.name)
    _create_logins()
    link_demo_customer()
    _enroll_demo_pev()
    for kind in (DeviceKind.ESCI, DeviceKind.EUMD):
        _register_demo_device(kind)
    return DEMO_LOGINS


def _enroll_demo_pev() -> None:
    if Enrollment.objects.current().filter(pev__vin=DEMO_VIN).exists():
        return
    premise = Premise.objects.select_related("account").get(premise_id=DEMO_PREMISE)
    request = EnrollmentRequest(
        account=premise.account, premise=premise, vin=DEMO_VIN, plan=ServicePlan.objects.get(code=DEMO_PLAN)
    )
    enroll(request, channel="phone", actor_label="load_demo")


def _register_demo_device(kind: str) -> None:
    """The demo premise's device: its key and certificate under var/demo-devices, registered once.

    A database reset keeps the files; the certificate on disk is then registered again.
    """
    directory = DEMO_DEVICES / DEMO_PREMISE / kind
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    if not cert_path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        key, certificate = issue_key_and_certificate(f"demo-{kind}-{DEMO_PREMISE}")
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_private_file(key_path, key_pem)
        write_private_file(cert_path, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if not Device.objects.filter(lfdi=certificate_lfdi(certificate)).exists():
        premise = Premise.objects.get(premise_id=DEMO_PREMISE)
        register_device(kind, certificate, premise=premise, actor_label="load_demo")


@transaction.atomic
def _create_logins() -> None:
    User = get_user_model()
    for login in DEMO_LOGINS:
        username = login.email.split("@")[0]
        user, _ = User.objects.get_or_create(username=username, defaults={"email": login.email})
        user.set_password(login.password)
        user.save()
        EmailAddress.objects.update_or_create(
            user=user, email=login.email, defaults={"verified": True, "primary": True}
        )
    carol = User.objects.get(email="carol@utility.example")
    carol.groups.add(Group.objects.get(name=CSR_GROUP))


# --- The live demo: `make run`'s driver (pevportal/demo_live.py) plays the demo premise's devices ----------


def demo_site(server: Server) -> Site:
    """The demo premise as its devices see it: its ESCI and EUMD, from the key files load_demo wrote."""
    directory = DEMO_DEVICES / DEMO_PREMISE
    if not (directory / "esci" / "key.pem").exists():
        raise SimulatorError(f"no demo devices under {directory}: run `make demo` (load_demo) first")
    esci, eumd = (
        SimulatedDevice.from_pem_files(directory / kind / "key.pem", directory / kind / "cert.pem")
        for kind in ("esci", "eumd")
    )
    return Site(server, DEMO_PREMISE, esci, eumd)


def demo_pev() -> SimulatedPev:
    """Alice's demo PEV with its state: commissioned after its first plug-in, re-bound on every later one."""
    return SimulatedPev(DEMO_VIN, state_dir=demo_pev_state())


def forget_demo_pev() -> None:
    """Drop the demo PEV's key and state: after a database reset the portal no longer knows its key, and only
    commissioning again (with a new key) binds it."""
    for name in (f"pev-{DEMO_VIN}.key.pem", f"pev-{DEMO_VIN}.json"):
        (demo_pev_state() / name).unlink(missing_ok=True)


def demo_pev_state() -> Path:
    """The PEV's key and what it learnt at commissioning, where `make simulate` keeps them: the two agree."""
    return DEMO_DEVICES / "pev"


def link_demo_customer() -> None:
    """Alice signs in to her own account's live panel: the demo links her login to the demo premise's
    account, as the account-number check of /my/enroll/ would."""
    user = get_user_model().objects.get(email=DEMO_LOGINS[0].email)
    account = Premise.objects.select_related("account").get(premise_id=DEMO_PREMISE).account
    AccountLink.objects.get_or_create(
        user=user, account=account, defaults={"method": AccountLink.Method.VERIFIED}
    )
