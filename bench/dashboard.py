"""The customer dashboard with 13 months of 15-minute data (issue 7, "Performance"): `/my/` renders in at
most 12 SQL queries and its p95 is under 100 ms.

In a database of its own (bench_dashboard_<pid> on DATABASE_URL's server, else 127.0.0.1:5432; dropped
afterwards) it loads, set-based, 1 + BENCH_NOISE homes (default 20): premise on SCE TOU-D-4-9PM with its
revenue meter, customer, account, a PEV enrolled on EV Prime (SCE TOU-D-PRIME), an ESCI and an EUMD; and for
each, BENCH_MONTHS (13) months of 15-minute reads up to today's local midnight: a bound session every night
(22:00-02:00 local, 7.2 kW, its EUMD reads attributed to it), the revenue meter reading the house's own load
plus the charging, and the usage rollups of all of it (metering.rollups.add, as ingest adds them). Every
home's last full month is billed (billing.bills.bill_premises). The noise homes are there so that every
query meets tables as big as a shared database's, not one customer's rows alone.

The first home's customer is signed in with Django's test client and `/my/` is requested BENCH_REQUESTS
times (default 200) after BENCH_WARMUP (10) unmeasured ones. Prints `queries: N` (of one request),
`p50: N ms` and `p95: N ms` (wall time of the request, rendering included), the goals, and the same
figures for metering.usage.dashboard_summary alone and for /my/usage/ (informational).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python -m bench.dashboard
"""

import datetime as dt
import hashlib
import os
import statistics
import sys
import time
import uuid
import zoneinfo
from collections.abc import Callable

import numpy as np

from bench.harness import setup_django, throwaway_database

NOISE = int(os.environ.get("BENCH_NOISE", "20"))
MONTHS = int(os.environ.get("BENCH_MONTHS", "13"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "200"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "10"))
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"

GOAL_QUERIES = 12
GOAL_P95_MS = 100.0
QUARTER = 900
NIGHT = (22, 4 * 4)  # local plug-in hour, quarters of charging
CHARGE_WH = 1800  # 7.2 kW for 15 minutes
LA = zoneinfo.ZoneInfo("America/Los_Angeles")
SEED = 20261126


def load(count: int, months: int) -> dict:
    """`count` homes with `months` months of reads, sessions, rollups and a bill each; returns the sizes."""
    from django.db import connection
    from django.utils import timezone

    from bench.enrollment_import import enroll_homes, load_registry
    from billing.bills import bill_premises
    from enrollment.models import Enrollment, PlanAssignment, Premise, ServicePlan
    from metering import partitions
    from pevportal.bulk import insert_rows

    today = timezone.now().astimezone(LA).date()
    first = today.replace(day=1)
    for _ in range(months - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    start = dt.datetime.combine(first, dt.time(), LA).astimezone(dt.UTC)
    end = dt.datetime.combine(today, dt.time(), LA).astimezone(dt.UTC)
    enrolled = start - dt.timedelta(days=30)

    load_registry(count)  # tariffs, programmes, a customer, account and premise per home
    plan = ServicePlan.objects.select_related("tariff").get(code="ev-prime")
    keys, vins, pevs, premises = enroll_homes(count, [plan] * count, enrolled)
    enrollments = dict(Enrollment.objects.values_list("pev_id", "pk"))
    premise_rows = {
        pk: (account, tariff)
        for pk, account, tariff in Premise.objects.values_list("pk", "account_id", "default_tariff_id")
    }
    insert_rows(
        PlanAssignment,
        ["enrollment_id", "plan_id", "effective_from"],
        ((enrollments[pevs[v]["pk"]], plan.pk, enrolled) for v in vins),
    )
    homes = [
        {
            "premise": premises[f"P{k}"]["pk"],
            "account": premise_rows[premises[f"P{k}"]["pk"]][0],
            "vin": v,
            "pev": pevs[v]["pk"],
            "enrollment": enrollments[pevs[v]["pk"]],
            "tariff": plan.tariff_id,
            "default_tariff": premise_rows[premises[f"P{k}"]["pk"]][1],
        }
        for k, v in zip(keys, vins, strict=True)
    ]
    _devices(homes)
    partitions.ensure_partitions(start, end)
    rng = np.random.default_rng(SEED)
    sizes = {"reads": 0, "sessions": 0}
    for home in homes:
        reads, sessions = _home_data(home, start, end, rng)
        sizes["reads"] += reads
        sizes["sessions"] += sessions
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    bill_premises([h["premise"] for h in homes], last_month, now=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SELECT count(*) FROM metering_usagerollup")
        (sizes["rollups"],) = cursor.fetchone()
    sizes["first_account"] = homes[0]["account"]
    return sizes


def _devices(homes: list[dict]) -> None:
    """An ESCI and an EUMD per premise (placeholder certificates: nothing here verifies a signature), and
    the revenue meter's and the EUMD's meter rows; their ids are added to each home."""
    from binding.identity import sfdi
    from binding.models import Device, DeviceKind
    from metering.models import Meter, MeterKind
    from pevportal.bulk import insert_rows

    not_after = dt.datetime(2036, 1, 1, tzinfo=dt.UTC)
    rows = []
    for home in homes:
        for kind in (DeviceKind.ESCI, DeviceKind.EUMD):
            lfdi = hashlib.sha256(f"bench-dashboard {kind} {home['premise']}".encode()).hexdigest()[:40]
            home[kind] = lfdi
            rows.append(
                (kind, lfdi, sfdi(lfdi), "bench placeholder", not_after, home["premise"], True, "", 19_200)
            )
    insert_rows(
        Device,
        [
            "kind",
            "lfdi",
            "sfdi",
            "certificate_pem",
            "not_after",
            "premise_id",
            "enabled",
            "disabled_reason",
            "max_power_w",
        ],
        rows,
    )
    ids = dict(Device.objects.values_list("lfdi", "pk"))
    for home in homes:
        home["esci_id"], home["eumd_id"] = ids[home[DeviceKind.ESCI]], ids[home[DeviceKind.EUMD]]
    insert_rows(Meter, ["kind", "premise_id"], ((MeterKind.PREMISE, h["premise"]) for h in homes))
    insert_rows(Meter, ["kind", "eumd_id"], ((MeterKind.EUMD, h["eumd_id"]) for h in homes))
    premise_meters = dict(Meter.objects.filter(kind=MeterKind.PREMISE).values_list("premise_id", "pk"))
    eumd_meters = dict(Meter.objects.filter(kind=MeterKind.EUMD).values_list("eumd_id", "pk"))
    for home in homes:
        home["premise_meter"], home["eumd_meter"] = (
            premise_meters[home["premise"]],
            eumd_meters[home["eumd_id"]],
        )


def _home_data(home: dict, start: dt.datetime, end: dt.datetime, rng) -> tuple[int, int]:
    """A home's nightly sessions, its EUMD and revenue-meter reads (COPY) and their rollups."""
    from binding.models import Binding, DeviceKind
    from metering import rollups
    from metering.models import PevRead, PremiseRead, UsageSource
    from pevportal.bulk import insert_columns, insert_rows

    epochs = np.arange(int(start.timestamp()), int(end.timestamp()), QUARTER, dtype=np.int64)
    house = rng.integers(150, 700, len(epochs), dtype=np.int64)
    first_day = start.astimezone(LA).date()
    nights = [
        dt.datetime.combine(first_day + dt.timedelta(days=n), dt.time(NIGHT[0]), LA).astimezone(dt.UTC)
        for n in range((end - start).days)
    ]
    nights = [night for night in nights if night + dt.timedelta(seconds=QUARTER * NIGHT[1]) <= end]
    binding_ids = [uuid.uuid4() for _ in nights]
    insert_rows(
        Binding,
        [
            "id",
            "esci_id",
            "eumd_lfdi",
            "eumd_id",
            "vin",
            "pev_id",
            "premise_id",
            "enrollment_id",
            "billed_enrollment_id",
            "kind",
            "state",
            "reason",
            "plugged_in_at",
            "deadline",
            "bound_at",
            "unplugged_at",
            "finished_at",
            "parameters_version",
            "response",
        ],
        (
            (
                binding_id,
                home["esci_id"],
                home[DeviceKind.EUMD],
                home["eumd_id"],
                home["vin"],
                home["pev"],
                home["premise"],
                home["enrollment"],
                home["enrollment"],
                Binding.Kind.REBINDING,
                Binding.State.ENDED,
                "",
                night,
                night + dt.timedelta(seconds=60),
                night,
                night + dt.timedelta(seconds=QUARTER * NIGHT[1]),
                night + dt.timedelta(seconds=QUARTER * NIGHT[1]),
                "",
                {},
            )
            for binding_id, night in zip(binding_ids, nights, strict=True)
        ),
    )
    pev_epochs = np.concatenate(
        [int(night.timestamp()) + QUARTER * np.arange(NIGHT[1], dtype=np.int64) for night in nights]
    )
    pev_wh = np.full(len(pev_epochs), CHARGE_WH, dtype=np.int64)
    # The revenue meter measures the house and the charging (BR.8).
    premise_wh = house.copy()
    premise_wh[np.searchsorted(epochs, pev_epochs)] += CHARGE_WH
    insert_columns(
        PremiseRead,
        {
            "meter_id": np.full(len(epochs), home["premise_meter"]),
            "interval_start": _stamps(epochs),
            "interval_seconds": np.full(len(epochs), QUARTER),
            "wh": premise_wh,
            "flags": np.zeros(len(epochs), dtype=np.int64),
            "premise_id": np.full(len(epochs), home["premise"]),
        },
    )
    insert_columns(
        PevRead,
        {
            "meter_id": np.full(len(pev_epochs), home["eumd_meter"]),
            "interval_start": _stamps(pev_epochs),
            "interval_seconds": np.full(len(pev_epochs), QUARTER),
            "wh": pev_wh,
            "flags": np.zeros(len(pev_epochs), dtype=np.int64),
            "vin": [home["vin"]] * len(pev_epochs),
            "premise_id": np.full(len(pev_epochs), home["premise"]),
            "binding_id": [str(b) for b in binding_ids for _ in range(NIGHT[1])],
            "enrollment_id": np.full(len(pev_epochs), home["enrollment"]),
            "batch_id": [None] * len(pev_epochs),
        },
    )
    rollups.add(
        [
            (rollups.Owner(home["premise"], UsageSource.PREMISE, home["default_tariff"]), epochs, premise_wh),
            (
                rollups.Owner(
                    home["premise"], UsageSource.PEV, home["tariff"], home["vin"], home["enrollment"]
                ),
                pev_epochs,
                pev_wh,
            ),
        ]
    )
    return len(epochs) + len(pev_epochs), len(nights)


def _stamps(epochs: np.ndarray) -> list[str]:
    return [dt.datetime.fromtimestamp(e, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for e in epochs.tolist()]


def measure(work: Callable[[], object]) -> tuple[int, list[float]]:
    """The queries of one call, and the wall time of REQUESTS calls after WARMUP, in ms."""
    from django.db import connection

    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    for _ in range(WARMUP):
        work()
    # Counted by an execute wrapper, which sees every statement whether or not DEBUG logs queries.
    with connection.execute_wrapper(count):
        work()
    times = []
    for _ in range(REQUESTS):
        began = time.perf_counter()
        work()
        times.append((time.perf_counter() - began) * 1000)
    return len(statements), times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(label: str, queries: int, times: list[float]) -> None:
    p50, p95 = statistics.median(times), percentile(times, 0.95)
    print(f"{label}: {queries} queries, p50 {p50:.1f} ms, p95 {p95:.1f} ms")


def signed_in_client(account_id: int):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from enrollment.models import AccountLink

    user = get_user_model().objects.create_user("bench-alice", email="bench-alice@example.com")
    AccountLink.objects.create(user=user, account_id=account_id, method="csr")
    client = Client()
    client.force_login(user)
    return client, user


def page(client, path: str) -> Callable[[], object]:
    def get():
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
        return response

    return get


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    # Production behaviour: an empty DEBUG in the environment would otherwise mean the development default.
    os.environ["DEBUG"] = os.environ.get("DEBUG") or "false"
    if MONTHS < 1 or REQUESTS < 1 or NOISE < 0:
        raise SystemExit("BENCH_MONTHS and BENCH_REQUESTS must be ≥ 1, BENCH_NOISE ≥ 0")
    began = time.time()
    setup_django()
    from django.db import connection

    from enrollment.models import UtilityAccount
    from metering.usage import dashboard_summary

    # Not test_<name>: a test run on the same server may be using that one right now.
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_dashboard_{os.getpid()}"
    with throwaway_database() as vendor:
        if vendor != "postgresql":
            raise SystemExit("bench-dashboard measures PostgreSQL: DATABASE_URL must be a postgres:// URL")
        loading = time.perf_counter()
        sizes = load(1 + NOISE, MONTHS)
        loading = time.perf_counter() - loading
        print(
            f"bench-dashboard: 1 home + {NOISE} noise homes, {MONTHS} months of 15-minute data "
            f"({sizes['reads']:,} reads, {sizes['sessions']:,} sessions, {sizes['rollups']:,} rollups), "
            f"database {vendor}, {REQUESTS} requests after {WARMUP}; loaded in {loading:.0f} s"
        )
        client, user = signed_in_client(sizes["first_account"])
        queries, times = measure(page(client, "/my/"))
        p50, p95 = statistics.median(times), percentile(times, 0.95)
        print(f"queries: {queries}")
        print(f"p50: {p50:.1f} ms")
        print(f"p95: {p95:.1f} ms")
        print(f"goal: queries ≤ {GOAL_QUERIES}: {'met' if queries <= GOAL_QUERIES else 'missed'}")
        print(f"goal: p95 < {GOAL_P95_MS:.0f} ms: {'met' if p95 < GOAL_P95_MS else 'missed'}")
        accounts = UtilityAccount.objects.for_user(user)
        report("dashboard_summary alone", *measure(lambda: dashboard_summary(accounts)))
        report("/my/usage/ (informational)", *measure(page(client, "/my/usage/")))
    print(f"total: {time.time() - began:.0f} s")
    return 0 if queries <= GOAL_QUERIES and p95 < GOAL_P95_MS else 1


if __name__ == "__main__":
    sys.exit(main())
