"""`make bench-cis-import`: how fast `import_cis` loads a large CIS extract, against the issue's target
(100,000 rows well under a minute).

Runs in a throwaway test database (test_<name> of the configured DATABASE_URL, or SQLite), three rounds of:
a first import into an empty registry, an identical re-import (nothing written), and a re-import with 10%
of the rows changed. Prints the median of each and the ratio against the 60-second target.
"""

import csv
import os
import sys
import tempfile
from pathlib import Path

from bench.harness import report, setup_django, throwaway_database, timed

ROWS = int(os.environ.get("BENCH_ROWS", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def write_extract(path: Path, rows: int, changed_every: int = 0) -> None:
    from enrollment.cis import REQUIRED_COLUMNS

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(REQUIRED_COLUMNS)
        for n in range(rows):
            feeder = f"FDR-{n % 500:03d}"
            if changed_every and n % changed_every == 0:
                feeder = f"FDR-NEW-{n % 7}"
            writer.writerow(
                [
                    f"8{n:09d}",
                    f"Customer {n}",
                    f"customer{n}@example.com",
                    f"626{n % 10_000_000:07d}",
                    f"P{n:09d}",
                    f"{n} Colorado Blvd, Pasadena CA",
                    "91101",
                    f"M{n:09d}",
                    feeder,
                    "BENCH-DEFAULT",
                ]
            )


def timed_import(path: Path) -> float:
    from enrollment.cis import import_cis_rows, parse_cis_file

    def work() -> None:
        parsed = parse_cis_file(path)
        if parsed.errors:
            raise RuntimeError(f"generated extract is invalid: {parsed.errors[:3]}")
        import_cis_rows(parsed, filename=path.name)

    return timed(work)


def main() -> int:
    setup_django()

    from billing.models import Tariff
    from enrollment.models import Customer, Premise, UtilityAccount
    from pevportal.models import AuditRecord, ImportRun

    with throwaway_database() as vendor:
        Tariff.objects.create(code="BENCH-DEFAULT", name="Benchmark default tariff")
        results: dict[str, list[float]] = {"first": [], "identical": [], "changed_10pct": []}
        with tempfile.TemporaryDirectory() as tmp:
            first, changed = Path(tmp) / "cis.csv", Path(tmp) / "cis-changed.csv"
            write_extract(first, ROWS)
            write_extract(changed, ROWS, changed_every=10)
            for _ in range(ROUNDS):
                for model in (AuditRecord, ImportRun, Premise, UtilityAccount, Customer):
                    model.objects.all().delete()
                results["first"].append(timed_import(first))
                results["identical"].append(timed_import(first))
                results["changed_10pct"].append(timed_import(changed))
                if Premise.objects.count() != ROWS:
                    raise RuntimeError("the import lost rows")
    report("cis_import", rows=ROWS, rounds=ROUNDS, vendor=vendor, results=results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
