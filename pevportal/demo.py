"""Demo data for `make run`: real SCE tariffs, the demo programmes, a small CIS extract, and logins for a
customer and a CSR. Loading is idempotent — every step is an upsert — so `make run` can repeat it."""

from dataclasses import dataclass
from pathlib import Path

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from billing.tariffs import import_tariff_file
from enrollment.cis import import_cis_rows, parse_cis_file
from enrollment.programs import import_programs_file
from pevportal.roles import CSR_GROUP

DATA = Path(settings.BASE_DIR) / "data"


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
    return DEMO_LOGINS


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
