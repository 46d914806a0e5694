"""`make bench-enrollment-import`: how fast `import_enrollments` enrolls a large migration file, against a
target of 100,000 rows within a minute.

Runs in a throwaway test database (test_<name> of the configured DATABASE_URL, or SQLite) holding the real
SCE tariffs and programmes and one account and premise per row, three rounds of: a first import into an
empty enrollment table, then an identical re-import (every row unchanged, nothing written). Prints the
median of each and the ratio against the target.
"""

import csv
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

from bench.harness import report, setup_django, throwaway_database, timed

ROWS = int(os.environ.get("BENCH_ROWS", "20000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def vin(serial: int) -> str:
    """A valid North-American VIN (a 2019 Tesla) with the given serial number and its check digit."""
    from enrollment.vin import check_digit

    body = f"5YJ3E1EA0KF{serial % 1_000_000:06d}"
    return body[:8] + check_digit(body) + body[9:]


def write_file(path: Path, rows: int, today: dt.date) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(
            [
                "account_number",
                "premise_id",
                "vin",
                "program_code",
                "plan_code",
                "guest_charging",
                "allow_roaming",
                "guest_vins",
                "effective_date",
            ]
        )
        for n in range(rows):
            guest_charging = ("declined", "host", "guest")[n % 3]
            writer.writerow(
                [
                    f"8{n:09d}",
                    f"P{n:09d}",
                    vin(n),
                    "ev-home",
                    "ev-prime" if n % 2 else "ev-standard",
                    guest_charging,
                    ("yes", "no")[n % 2],
                    "" if guest_charging == "declined" else vin(900_000 + n % 1000),
                    "" if n % 4 else str(today - dt.timedelta(days=n % 300)),
                ]
            )


def load_registry(rows: int) -> None:
    """The tariffs and programmes from data/, and one customer, account and premise per row."""
    from django.conf import settings

    from billing.models import Tariff
    from billing.tariffs import import_tariff_file
    from enrollment.models import Customer, Premise, UtilityAccount
    from enrollment.programs import import_programs_file
    from pevportal.bulk import insert_rows, rows_by_key

    for path in sorted((settings.BASE_DIR / "data" / "tariffs").glob("*.json")):
        import_tariff_file(path)
    import_programs_file(settings.BASE_DIR / "data" / "programs.json")
    tariff = Tariff.objects.get(code="SCE-TOU-D-4-9PM").pk
    keys = [f"{n:09d}" for n in range(rows)]
    insert_rows(
        Customer,
        ["cis_id", "name", "email", "phone"],
        ((f"C{k}", f"Customer {k}", "", "6265550100") for k in keys),
    )
    customers = rows_by_key(Customer, "cis_id", [f"C{k}" for k in keys])
    insert_rows(
        UtilityAccount, ["number", "customer_id"], ((f"8{k}", customers[f"C{k}"]["pk"]) for k in keys)
    )
    accounts = rows_by_key(UtilityAccount, "number", [f"8{k}" for k in keys])
    insert_rows(
        Premise,
        [
            "premise_id",
            "account_id",
            "service_address",
            "postal_code",
            "meter_id",
            "feeder_id",
            "default_tariff_id",
        ],
        (
            (
                f"P{k}",
                accounts[f"8{k}"]["pk"],
                f"{k} Colorado Blvd, Pasadena CA",
                "91101",
                f"M{k}",
                "FDR-1",
                tariff,
            )
            for k in keys
        ),
    )


def timed_import(path: Path) -> float:
    from enrollment.enrollment_import import import_enrollment_rows, parse_enrollment_file

    def work() -> None:
        parsed = parse_enrollment_file(path)
        if parsed.errors:
            raise RuntimeError(f"generated file is invalid: {parsed.errors[:3]}")
        import_enrollment_rows(parsed, filename=path.name)

    return timed(work)


def main() -> int:
    setup_django()
    from django.utils import timezone

    from enrollment.models import CommissioningWindow, Enrollment, Pev, PlanAssignment
    from pevportal.models import AuditRecord, ImportRun

    with throwaway_database() as vendor:
        load_registry(ROWS)
        results: dict[str, list[float]] = {"first": [], "identical": []}
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "enrollments.csv"
            write_file(path, ROWS, timezone.now().date())
            for _ in range(ROUNDS):
                for model in (AuditRecord, ImportRun, CommissioningWindow, PlanAssignment, Enrollment, Pev):
                    model.objects.all().delete()
                results["first"].append(timed_import(path))
                results["identical"].append(timed_import(path))
                if Enrollment.objects.count() != ROWS or CommissioningWindow.objects.count() != ROWS:
                    raise RuntimeError("the import lost rows")
    report("enrollment_import", rows=ROWS, rounds=ROUNDS, vendor=vendor, results=results)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def enroll_homes(count: int, plans: list, enrolled: dt.datetime) -> tuple[list, list, dict, dict]:
    """After load_registry(count): one PEV per home, actively enrolled there from `enrolled` in the plan
    `plans[n]` (a ServicePlan per home). Returns the homes' keys, their VINs, and the PEVs (by VIN) and
    premises (by premise ID) as `rows_by_key` gives them."""
    from enrollment.models import Enrollment, EnrollmentChannel, Pev, Premise, UtilityAccount
    from pevportal.bulk import insert_rows, rows_by_key

    keys = [f"{n:09d}" for n in range(count)]
    vins = [vin(n) for n in range(count)]
    insert_rows(Pev, ["vin", "make", "model", "year"], ((v, "Tesla", "Model 3", 2019) for v in vins))
    pevs = rows_by_key(Pev, "vin", vins)
    premises = rows_by_key(Premise, "premise_id", [f"P{k}" for k in keys])
    accounts = rows_by_key(UtilityAccount, "number", [f"8{k}" for k in keys])
    insert_rows(
        Enrollment,
        [
            "pev_id",
            "account_id",
            "premise_id",
            "plan_id",
            "status",
            "channel",
            "guest_charging",
            "guest_vins",
            "allow_roaming",
            "effective_from",
            "ended_reason",
            "created_at",
        ],
        (
            (
                pevs[v]["pk"],
                accounts[f"8{k}"]["pk"],
                premises[f"P{k}"]["pk"],
                plan.pk,
                Enrollment.Status.ACTIVE,
                EnrollmentChannel.IMPORT,
                "declined",
                [],
                False,
                enrolled,
                "",
                enrolled,
            )
            for k, v, plan in zip(keys, vins, plans, strict=True)
        ),
    )
    return keys, vins, pevs, premises
