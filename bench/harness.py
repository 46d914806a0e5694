"""What every benchmark shares: Django set up against the configured database, a throwaway test database
(test_<name>, dropped afterwards), timing, and one report format — medians and the ratio to the target."""

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# The imports' target: 100,000 rows "well under a minute" (issue 2); a ratio above 1 meets it.
TARGET_ROWS_PER_MINUTE = 100_000


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pevportal.settings")
    # Benchmarks measure production behaviour: DEBUG's query logging would dominate bulk paths.
    os.environ.setdefault("DEBUG", "false")
    import django

    django.setup()


@contextmanager
def throwaway_database() -> Iterator[str]:
    """A migrated test database for the run; yields the vendor name."""
    from django.db import connection

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield connection.vendor
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def report(name: str, *, rows: int, rounds: int, vendor: str, results: dict[str, list[float]]) -> None:
    """Print each measurement's median, the first one's rate, and its ratio to the target rate."""
    print(f"{name}: {rows} rows, {rounds} rounds, database {vendor}")
    for label, seconds in results.items():
        median = statistics.median(seconds)
        print(f"{label}: {median:.2f} s median ({rows / median:,.0f} rows/s)")
    rate = rows / statistics.median(next(iter(results.values())))
    target = TARGET_ROWS_PER_MINUTE / 60
    print(f"{name}: {rate:,.0f} rows/s")
    print(f"ratio: {rate / target:.1f} (target {target:,.0f} rows/s: {TARGET_ROWS_PER_MINUTE:,} a minute)")
