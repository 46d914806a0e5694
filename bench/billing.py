"""`make bench-billing`: a month of billing end to end through a real Celery worker, against NREL PySAM
`Utilityrate5` rating the same reads from the same database (issue 6, "Performance").

In a database of its own (bench_billing_<pid> on DATABASE_URL's server, else 127.0.0.1:5432; dropped
afterwards) it loads BENCH_PREMISES homes set-based: premise on SCE TOU-D-4-9PM with its revenue meter,
customer, account, PEV enrolled on EV Prime (SCE TOU-D-PRIME; every third home on EV Standard, TOU-D-4-9PM),
an ESCI and an EUMD with its meter, and a plug-in every evening of BENCH_MONTH and a day either side, in
local time: plugged in 17:00–22:00, charging 2–6 h at 6–7.2 kW, unplugged by 07:00. The default month,
2026-03, has DST start on the 8th; SCE's winter schedules are the same every day, so holidays matter only
in summer: 2026-09 has Labor Day (the month must be over, and in the tariffs' versions: 2026 on). One
session in ten timed out (its energy stays premise energy); of the bound ones, one in fifty failed its load
correlation (billed at the default rate too), the others passed. Every meter reads every 15 minutes,
written by COPY: the revenue meter is the house's own load plus all of the PEV's charging.

Each round, in alternating order so neither always meets the other's after-effects:

- billing: `billing.runs.open_run(month)` and `queue_run` (the `start_billing_run` task), as
  `manage.py run_billing --queue` does, timed until the run's status is done, on a Celery worker started
  by the bench (BENCH_WORKERS processes, Redis BENCH_REDIS_URL as broker, chunks of BILLING_CHUNK_PREMISES
  premises). Between rounds the month's bills, holds and runs are deleted and the meters' billed_through
  cleared, so each round bills every premise afresh.
- pysam: bench/billing_pysam.py — the tariffs' price per interval and the reads from the database, one
  `Utilityrate5` call per premise × energy kind × tariff, in as many processes as the worker has.

`N reads/s` is the month's PEV and premise reads (both tables) divided by each side's time, database
included. Then every energy line of the last run's bills is compared with PySAM's charges summed over the
same intervals (tariff, period label, unit price): `mismatches` counts lines whose unrounded amounts differ
by more than $0.005. Two checks keep the reference honest: PySAM's charge of every premise × kind equals a
direct numpy Σ kWh × price of the generated data, and the price vectors equal billing.schedule's. The CPU
each side spent (its processes and the database's PostgreSQL backends) is printed too: other work on a
shared machine disturbs it far less than the rates.
"""

import datetime as dt
import hashlib
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path

import numpy as np

from bench import billing_pysam as pysam
from bench import binding_load as load
from bench.harness import setup_django, throwaway_database

PREMISES = int(os.environ.get("BENCH_PREMISES", "500"))
MONTH = os.environ.get("BENCH_MONTH", "2026-03")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))
BATCH = int(os.environ.get("BENCH_PYSAM_BATCH", "50"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
RUN_TIMEOUT = float(os.environ.get("BENCH_RUN_TIMEOUT", "600"))
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"

GOAL_RATIO = 1.0
TOLERANCE = 0.005  # $: an energy line's unrounded amount, portal against PySAM
CHECK_TOLERANCE = 1e-6  # $: PySAM against numpy, both in floating point over the same numbers
SEED = 20260308
TIMED_OUT_SHARE = 0.10
FAILED_CORRELATION_SHARE = 0.02
INTERVAL = dt.timedelta(seconds=pysam.INTERVAL_SECONDS)


@dataclass
class DataSet:
    """The generated month and a day either side: per home (row) and interval (column) the house's own
    load and the PEV's charging in Wh, and whether each PEV read is billed at the plan (bound, and its
    session's correlation not failed)."""

    month: pysam.Month
    first: dt.datetime  # the first interval (UTC), a day before the month's
    premises: np.ndarray  # premise ids, one per home
    pev_tariff: np.ndarray  # the enrollment's plan tariff id, per home
    default_tariff: int
    house: np.ndarray  # (homes, intervals) int64 Wh
    pev: np.ndarray
    billed: np.ndarray  # (homes, intervals) bool
    binding_ids: list[str] = field(default_factory=list)  # of the bindings written, in order
    sessions: int = 0
    timed_out: int = 0
    failed: int = 0

    @property
    def month_slice(self) -> slice:
        first = int((self.month.start - self.first) / INTERVAL)
        return slice(first, first + self.month.intervals)

    def expected(self, vectors: dict[int, pysam.PriceVector]) -> dict[pysam.ChargeKey, float]:
        """Σ kWh × price per premise × kind × tariff, straight from the generated arrays."""
        window = self.month_slice
        bound = np.where(self.billed, self.pev, 0)[:, window] / 1000
        net = (self.house + self.pev)[:, window] / 1000 - bound
        expected = {}
        for row, premise in enumerate(self.premises.tolist()):
            tariff = int(self.pev_tariff[row])
            expected[(premise, pysam.PEV_ENERGY, tariff)] = float(bound[row] @ vectors[tariff].prices)
            expected[(premise, pysam.PREMISE_ENERGY, self.default_tariff)] = float(
                net[row] @ vectors[self.default_tariff].prices
            )
        return expected


# --- The data set ---------------------------------------------------------------------------------------


def load_data_set(count: int, first_day: dt.date) -> DataSet:
    """`count` homes with a month of reads, written set-based (COPY); returns what was generated."""
    from django.db import connection

    from bench.enrollment_import import enroll_homes, load_registry
    from billing.models import Tariff
    from enrollment.models import (
        Enrollment,
        PlanAssignment,
        ServicePlan,
    )
    from pevportal.bulk import insert_rows

    load_registry(count)  # tariffs, programmes (holiday calendars built), a customer, account, premise each
    default = Tariff.objects.get(code="SCE-TOU-D-4-9PM")
    month = pysam.Month.of(first_day, default.time_zone)
    first = month.start - dt.timedelta(days=1)
    intervals = int((month.end + dt.timedelta(days=1) - first) / INTERVAL)
    enrolled = first - dt.timedelta(days=60)
    plans = {p.code: p for p in ServicePlan.objects.filter(code__in=["ev-prime", "ev-standard"])}
    home_plans = [plans["ev-standard" if n % 3 == 0 else "ev-prime"] for n in range(count)]
    keys, vins, pevs, premises = enroll_homes(count, home_plans, enrolled)
    enrollments = dict(Enrollment.objects.values_list("pev_id", "pk"))
    insert_rows(
        PlanAssignment,
        ["enrollment_id", "plan_id", "effective_from"],
        ((enrollments[pevs[v]["pk"]], plan.pk, enrolled) for v, plan in zip(vins, home_plans, strict=True)),
    )
    homes = [
        Home(premises[f"P{k}"]["pk"], v, pevs[v]["pk"], enrollments[pevs[v]["pk"]], plan.tariff_id)
        for k, v, plan in zip(keys, vins, home_plans, strict=True)
    ]
    devices = _load_devices(homes)
    data = DataSet(
        month=month,
        first=first,
        premises=np.array([h.premise for h in homes], dtype=np.int64),
        pev_tariff=np.array([h.tariff for h in homes], dtype=np.int64),
        default_tariff=default.pk,
        house=np.zeros((count, intervals), dtype=np.int64),
        pev=np.zeros((count, intervals), dtype=np.int64),
        billed=np.zeros((count, intervals), dtype=bool),
    )
    rng = np.random.default_rng(SEED)
    _house_load(data, rng)
    binding_of = _sessions(data, homes, devices, rng)
    _copy_reads(data, homes, devices, binding_of)
    with connection.cursor() as cursor:
        # A month's reads are weeks old when it is billed: vacuumed (hint bits set, visibility map built)
        # and analysed. A fresh load is neither, and autovacuum would otherwise do it during the rounds.
        cursor.execute("VACUUM ANALYZE")
    return data


@dataclass(frozen=True)
class Home:
    premise: int
    vin: str
    pev: int
    enrollment: int
    tariff: int  # the plan's


@dataclass(frozen=True)
class Devices:
    esci: dict[int, int]  # premise → device id
    eumd: dict[int, int]
    eumd_lfdi: dict[int, str]
    premise_meter: dict[int, int]  # premise → meter id
    eumd_meter: dict[int, int]


def _load_devices(homes: list[Home]) -> Devices:
    """An ESCI and an EUMD per premise (placeholder certificates: nothing here verifies a signature), and
    the revenue meter's and the EUMD's meter rows."""
    from binding.identity import sfdi
    from binding.models import Device, DeviceKind
    from metering.models import Meter, MeterKind
    from pevportal.bulk import insert_rows

    not_after = dt.datetime(2036, 1, 1, tzinfo=dt.UTC)
    lfdis = {}
    rows = []
    for home in homes:
        for kind in (DeviceKind.ESCI, DeviceKind.EUMD):
            lfdi = hashlib.sha256(f"bench-billing {kind} {home.premise}".encode()).hexdigest()[:40]
            lfdis[(kind, home.premise)] = lfdi
            rows.append(
                (kind, lfdi, sfdi(lfdi), "bench placeholder", not_after, home.premise, True, "", 19_200)
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
    esci = {h.premise: ids[lfdis[(DeviceKind.ESCI, h.premise)]] for h in homes}
    eumd = {h.premise: ids[lfdis[(DeviceKind.EUMD, h.premise)]] for h in homes}
    insert_rows(Meter, ["kind", "premise_id"], ((MeterKind.PREMISE, h.premise) for h in homes))
    insert_rows(Meter, ["kind", "eumd_id"], ((MeterKind.EUMD, eumd[h.premise]) for h in homes))
    premise_meter = dict(Meter.objects.filter(kind=MeterKind.PREMISE).values_list("premise_id", "pk"))
    by_eumd = dict(Meter.objects.filter(kind=MeterKind.EUMD).values_list("eumd_id", "pk"))
    return Devices(
        esci,
        eumd,
        {h.premise: lfdis[(DeviceKind.EUMD, h.premise)] for h in homes},
        premise_meter,
        {premise: by_eumd[device] for premise, device in eumd.items()},
    )


def _local_hours(data: DataSet) -> np.ndarray:
    zone = zoneinfo.ZoneInfo(data.month.zone)
    count = data.house.shape[1]
    return np.array([(data.first + k * INTERVAL).astimezone(zone).hour for k in range(count)])


def _house_load(data: DataSet, rng: np.random.Generator) -> None:
    """The house without the PEV: 30–250 Wh a quarter-hour, more in the morning and 4–9 p.m."""
    hours = _local_hours(data)
    bump = np.where((hours >= 16) & (hours < 21), 300, np.where((hours >= 6) & (hours < 9), 150, 0))
    data.house[:] = rng.integers(30, 251, size=data.house.shape) + bump * rng.random(data.house.shape)


def _sessions(data: DataSet, homes: list[Home], devices: Devices, rng: np.random.Generator) -> np.ndarray:
    """A plug-in every local evening; the bindings and load correlations as the portal leaves them. Returns
    each read's binding (index into the bindings written, -1 for none)."""
    from binding.models import Binding
    from metering.models import LoadCorrelation
    from pevportal.bulk import insert_rows

    zone = zoneinfo.ZoneInfo(data.month.zone)
    count = data.house.shape[1]
    first_night = data.first.astimezone(zone).date() - dt.timedelta(days=1)
    last_night = (data.first + count * INTERVAL).astimezone(zone).date()
    nights = [first_night + dt.timedelta(days=n) for n in range((last_night - first_night).days + 1)]
    binding_of = np.full(data.house.shape, -1, dtype=np.int64)
    bindings, correlations = [], []
    for row, home in enumerate(homes):
        usual = int(rng.integers(0, 17))  # quarter-hours after 17:00
        for night in nights:
            # Local wall-clock times (aware arithmetic within one zone), then UTC: DST moves the UTC hours.
            evening = dt.datetime.combine(night, dt.time(17), zone)
            morning = dt.datetime.combine(night + dt.timedelta(days=1), dt.time(7), zone)
            plugged = evening + (usual + int(rng.integers(0, 5))) * INTERVAL
            unplugged = morning - int(rng.integers(0, 5)) * INTERVAL
            plugged, unplugged = plugged.astimezone(dt.UTC), unplugged.astimezone(dt.UTC)
            a, b = int((plugged - data.first) / INTERVAL), int((unplugged - data.first) / INTERVAL)
            if b <= 0 or a >= count:
                continue
            charging = int(rng.integers(8, 25))
            data.pev[row, max(a, 0) : max(min(a + charging, b, count), 0)] = int(rng.integers(1500, 1801))
            timed_out = rng.random() < TIMED_OUT_SHARE
            binding_id = str(uuid.uuid4())
            bindings.append(
                (
                    binding_id,
                    devices.esci[home.premise],
                    devices.eumd_lfdi[home.premise],
                    devices.eumd[home.premise],
                    home.vin,
                    home.pev,
                    home.premise,
                    home.enrollment,
                    None if timed_out else home.enrollment,
                    Binding.Kind.REBINDING,
                    Binding.State.TIMED_OUT if timed_out else Binding.State.ENDED,
                    "",
                    plugged,
                    plugged + dt.timedelta(seconds=60),
                    None if timed_out else plugged + dt.timedelta(seconds=2),
                    unplugged,
                    unplugged,
                    "bench",
                    {},
                )
            )
            data.sessions += 1
            if timed_out:
                data.timed_out += 1
                continue
            span = slice(max(a, 0), min(b, count))
            binding_of[row, span] = len(bindings) - 1
            failed = rng.random() < FAILED_CORRELATION_SHARE
            data.failed += failed
            data.billed[row, span] = not failed
            correlations.append(
                (
                    binding_id,
                    LoadCorrelation.Result.FAIL if failed else LoadCorrelation.Result.PASS,
                    {},
                    unplugged + dt.timedelta(hours=1),
                    "",
                )
            )
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
        bindings,
    )
    insert_rows(
        LoadCorrelation, ["binding_id", "result", "evidence", "checked_at", "clear_note"], correlations
    )
    data.binding_ids = [row[0] for row in bindings]
    return binding_of


def _copy_reads(data: DataSet, homes: list[Home], devices: Devices, binding_of: np.ndarray) -> None:
    """Every meter's read of every interval, 50 homes per COPY: the EUMD's (attributed to its session's
    binding and enrollment when bound) and the revenue meter's (house + PEV)."""
    from metering.models import PevRead, PremiseRead
    from metering.partitions import ensure_partitions
    from pevportal.bulk import insert_columns

    count = data.house.shape[1]
    ensure_partitions(data.first, data.first + (count - 1) * INTERVAL)
    starts = [(data.first + k * INTERVAL).strftime("%Y-%m-%dT%H:%M:%SZ") for k in range(count)]
    binding_ids = data.binding_ids
    for first in range(0, len(homes), 50):
        chunk = homes[first : first + 50]
        rows = slice(first, first + len(chunk))
        size = len(chunk) * count
        premise_ids = np.repeat([h.premise for h in chunk], count)
        of = binding_of[rows].ravel().tolist()
        enrollment = np.repeat([h.enrollment for h in chunk], count).tolist()
        insert_columns(
            PevRead,
            {
                "meter_id": np.repeat([devices.eumd_meter[h.premise] for h in chunk], count),
                "interval_start": starts * len(chunk),
                "interval_seconds": np.full(size, pysam.INTERVAL_SECONDS),
                "wh": data.pev[rows].ravel(),
                "flags": np.zeros(size, dtype=np.int64),
                "vin": [h.vin for h in chunk for _ in range(count)],
                "premise_id": premise_ids,
                "binding_id": [None if b < 0 else binding_ids[b] for b in of],
                "enrollment_id": [None if b < 0 else e for b, e in zip(of, enrollment, strict=True)],
            },
        )
        insert_columns(
            PremiseRead,
            {
                "meter_id": np.repeat([devices.premise_meter[h.premise] for h in chunk], count),
                "interval_start": starts * len(chunk),
                "interval_seconds": np.full(size, pysam.INTERVAL_SECONDS),
                "wh": (data.house[rows] + data.pev[rows]).ravel(),
                "flags": np.zeros(size, dtype=np.int64),
                "premise_id": premise_ids,
            },
        )


def month_reads(month: pysam.Month) -> int:
    """The reads both sides rate: every PEV and premise read of the month."""
    from django.db import connection

    with connection.cursor() as cursor:
        total = 0
        for table in ("metering_pevread", "metering_premiseread"):
            cursor.execute(
                f"SELECT count(*) FROM {table} WHERE interval_start >= %s AND interval_start < %s",  # noqa: S608
                [month.start, month.end],
            )
            total += cursor.fetchone()[0]
        return total


# --- The Celery worker ----------------------------------------------------------------------------------


def worker_environment(database_url: str, directory: Path) -> dict[str, str]:
    from bench.binding import server_environment

    env = server_environment(database_url, directory)
    env.update(REDIS_URL=REDIS_URL, CELERY_TASK_ALWAYS_EAGER="false", LOG_LEVEL="WARNING")
    return env


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    from django.conf import settings

    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "pevportal",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(WORKERS),
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
    ]
    with log_path.open("wb") as log:
        # A session of its own: stopping the bench stops the worker and its pool, nothing else.
        return subprocess.Popen(  # noqa: S603 — our own interpreter and fixed arguments
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for_worker(worker: subprocess.Popen, log_path: Path) -> None:
    from pevportal.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the Celery worker exited: {log_path.read_text(errors='replace')[-3000:]}")
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError("the Celery worker did not answer a ping within 60 s")


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def purge_redis() -> None:
    """The bench's Redis database: broker queues, worker control and cache keys of this run (or of an
    earlier one that was interrupted, whose tasks would name this database's run ids)."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


# --- The two sides ----------------------------------------------------------------------------------------


@dataclass
class Bench:
    """What the rounds share: the data set, the processes that do the rating and the database they use."""

    data: DataSet
    reads: int
    database: str
    worker: subprocess.Popen
    pool: object = None  # a multiprocessing pool of BENCH_WORKERS rating processes, when more than one

    def rating_pids(self) -> list[int]:
        """This process and its pool: the PySAM side (the worker is a child too, but not of that side)."""
        worker = set(load.process_tree(self.worker.pid))
        return [pid for pid in load.process_tree(os.getpid()) if pid not in worker]

    def timed(self, work, meter: "CpuMeter") -> "Timed":
        """Wall time of `work()`, and the CPU the meter's processes and this database's backends spent."""
        began = time.perf_counter()
        value = work()
        seconds = time.perf_counter() - began
        meter.sample()
        return Timed(value, seconds, meter.used("side"), meter.used("postgres"))


class CpuMeter:
    """CPU seconds of some processes and of one database's PostgreSQL backends (and the WAL writer), from
    snapshots: a backend that exits mid-phase — the worker's connections may not outlive a task — counts
    up to its last snapshot, so the billing side takes one at each poll of its run."""

    def __init__(self, pids: list[int], database: str):
        self.pids, self.database = pids, database
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.sample(starting=True)

    def sample(self, *, starting: bool = False) -> None:
        for group, pids in (("side", self.pids), ("postgres", load.postgres_pids(self.database))):
            for pid, seconds in load.cpu_by_pid(pids).items():
                # A process first seen later started during the phase: all of its CPU counts.
                self.first.setdefault((group, pid), seconds if starting else 0.0)
                self.last[(group, pid)] = seconds

    def used(self, group: str) -> float:
        return sum(self.last[key] - self.first[key] for key in self.last if key[0] == group)


@dataclass
class Timed:
    value: object
    seconds: float
    cpu: float  # the worker's processes, or the PySAM side's
    postgres_cpu: float

    def describe(self, who: str) -> str:
        return f"{self.seconds:.1f} s; cpu {who} {self.cpu:.1f} s + postgres {self.postgres_cpu:.1f} s"


def run_billing(period: dt.date, worker: subprocess.Popen, meter: CpuMeter):
    """Open a run, start it on the worker and wait until it is done: the run, refreshed."""
    from django.utils import timezone

    from billing import runs
    from billing.models import BillingRun

    # As `manage.py run_billing --queue` does: the run's start task goes to the worker, which fans it out
    # into chunk tasks of BILLING_CHUNK_PREMISES (an environment variable the worker inherits).
    run = runs.open_run(period, trigger="command", now=timezone.now())
    if not runs.queue_run(run.pk):
        raise RuntimeError(f"billing run {run.pk} could not be queued: is Redis at {REDIS_URL} up?")
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        status = BillingRun.objects.filter(pk=run.pk).values_list("status", flat=True).get()
        if status in runs.FINISHED:
            break
        if worker.poll() is not None:
            raise RuntimeError("the Celery worker exited during the run")
        if time.monotonic() > deadline:
            raise RuntimeError(f"billing run {run.pk} not done after {RUN_TIMEOUT:.0f} s (status {status})")
        meter.sample()
        time.sleep(0.05)
    run.refresh_from_db()
    return run


def forget_bills() -> None:
    """Before another round: the month's bills, holds and runs gone, and the meters not billed."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE billing_adjustment SET bill_id = NULL WHERE bill_id IS NOT NULL")
        for table in ("billing_billline", "billing_bill", "billing_billhold", "billing_billingrun"):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 — fixed table names
        cursor.execute("UPDATE metering_meter SET billed_through = NULL WHERE billed_through IS NOT NULL")


@dataclass
class PysamRound:
    rated: pysam.Rated
    vectors: dict[int, pysam.PriceVector]


def run_pysam(number: int, month: pysam.Month, premises: list[int], pool) -> PysamRound:
    """Price vectors and reads from the database, one PySAM call per premise × kind × tariff."""
    batches = [premises[i : i + BATCH] for i in range(0, len(premises), BATCH)]
    vectors = pysam.price_vectors(pysam.connection(), month)
    rated = pysam.Rated()
    if pool is None:
        for batch in batches:
            rated.merge(pysam.rate_in_worker(number, batch, month, vectors))
    else:
        for part in pool.starmap(pysam.rate_in_worker, [(number, b, month, vectors) for b in batches]):
            rated.merge(part)
    return PysamRound(rated, vectors)


# --- Comparing ----------------------------------------------------------------------------------------


def portal_lines(run_id: int) -> dict[pysam.LineKey, tuple[Decimal, int]]:
    """The run's energy lines per (premise, kind, tariff, period label, unit price): amount and how many
    lines (the portal writes one per price run, which a tariff version change in the month would split)."""
    from django.db.models import Count, Sum

    from billing.models import BillLine

    rows = (
        BillLine.objects.filter(bill__run_id=run_id, kind__in=pysam.KINDS)
        .values_list("bill__premise_id", "kind", "tariff_id", "period_label", "unit_price")
        .annotate(amount=Sum("amount_unrounded"), lines=Count("pk"))
        .order_by()
    )
    return {(p, k, t, label, price.normalize()): (amount, n) for p, k, t, label, price, amount, n in rows}


@dataclass
class Comparison:
    mismatches: int = 0
    examples: list = field(default_factory=list)
    totals: dict = field(default_factory=dict)  # kind → [portal $, pysam $, portal lines]


def compare(portal: dict[pysam.LineKey, tuple], reference: dict[pysam.LineKey, float]) -> Comparison:
    """Every energy line against PySAM's charge of the same intervals; a line on one side only counts
    unless its amount is within the tolerance of nothing (PySAM has every period, used or not)."""
    reference = {(p, k, t, label, price.normalize()): v for (p, k, t, label, price), v in reference.items()}
    result = Comparison(totals={kind: [0.0, 0.0, 0] for kind in pysam.KINDS})
    for key in portal.keys() | reference.keys():
        amount, lines = portal.get(key, (Decimal(0), 0))
        ours, theirs = float(amount), reference.get(key, 0.0)
        totals = result.totals[key[1]]
        totals[0] += ours
        totals[1] += theirs
        totals[2] += lines
        if abs(ours - theirs) > TOLERANCE:
            result.mismatches += max(lines, 1)
            if len(result.examples) < 5:
                result.examples.append((key, ours, theirs))
    return result


def check_against_numpy(data: DataSet, rounded: PysamRound) -> tuple[int, int, float]:
    """PySAM's charge of every premise × kind against Σ kWh × price of the generated arrays: how many
    charges, how many differ by more than CHECK_TOLERANCE, and the largest difference."""
    expected = data.expected(rounded.vectors)
    charges = rounded.rated.charges
    differences = [abs(charges.get(key, 0.0) - value) for key, value in expected.items()]
    differences += [abs(value) for key, value in charges.items() if key not in expected]
    return len(differences), sum(d > CHECK_TOLERANCE for d in differences), max(differences, default=0.0)


def check_price_vectors(vectors: dict[int, pysam.PriceVector], month: pysam.Month) -> int:
    """Intervals where the reference's (period label, price) differs from billing.schedule's."""
    from billing.models import Tariff
    from billing.schedule import price_segments, segments_at

    differing = 0
    starts = month.starts()
    for tariff in Tariff.objects.filter(pk__in=list(vectors)):
        vector = vectors[tariff.pk]
        segments = segments_at(price_segments(tariff, month.start, month.end), starts)
        for segment, line, price in zip(segments, vector.lines.tolist(), vector.exact, strict=True):
            differing += (segment.period_label, segment.price) != (vector.keys[line][0], price)
    return differing


# --- The run --------------------------------------------------------------------------------------------


@dataclass
class Results:
    billing: list[Timed] = field(default_factory=list)
    pysam: list[Timed] = field(default_factory=list)
    runs_ok: bool = True

    @property
    def last_run(self):
        return self.billing[-1].value if self.billing else None

    @property
    def last_pysam(self) -> PysamRound:
        return self.pysam[-1].value


def run_round(number: int, bench: Bench, results: Results) -> None:
    """One round's billing and PySAM phases; odd rounds start with billing, even ones with PySAM, so that
    neither always meets the other's after-effects (checkpoints, autovacuum of the bills)."""
    data, reads = bench.data, bench.reads
    for phase in ("billing", "pysam") if number % 2 else ("pysam", "billing"):
        if phase == "billing":
            if results.last_run is not None:
                forget_bills()
            meter = CpuMeter(load.process_tree(bench.worker.pid), bench.database)
            timed = bench.timed(partial(run_billing, data.month.first_day, bench.worker, meter), meter)
            run = timed.value
            results.billing.append(timed)
            results.runs_ok &= (
                run.status == "done" and run.bills_issued == len(data.premises) and not run.errors
            )
            print(
                f"  round {number}: billing {reads / timed.seconds:,.0f} reads/s "
                f"({timed.describe('worker')}); run {run.status}: {run.bills_issued} bills, "
                f"{run.bills_held} held, {len(run.errors)} errors"
            )
        else:
            meter = CpuMeter(bench.rating_pids(), bench.database)
            work = partial(run_pysam, number, data.month, data.premises.tolist(), bench.pool)
            timed = bench.timed(work, meter)
            results.pysam.append(timed)
            rated = timed.value.rated
            print(
                f"  round {number}: pysam {reads / timed.seconds:,.0f} reads/s ({timed.describe('pysam')}); "
                f"{rated.calls} Utilityrate5 calls, {rated.rows:,} energy rows read"
            )


def report(results: Results, bench: Bench, comparison: Comparison, checks: tuple) -> bool:
    """Medians, goals and the checks; True when the runs billed every premise and everything agrees."""
    reads = bench.reads
    billing = statistics.median(reads / t.seconds for t in results.billing)
    reference = statistics.median(reads / t.seconds for t in results.pysam)
    ratio = billing / reference
    print(f"billing: {billing:,.0f} reads/s")
    print(f"pysam: {reference:,.0f} reads/s")
    print(f"ratio: {ratio:.2f}")
    print(f"mismatches: {comparison.mismatches}")
    print(f"goal: ratio ≥ {GOAL_RATIO}: {'met' if ratio >= GOAL_RATIO else 'missed'}")
    print(f"goal: mismatches = 0: {'met' if comparison.mismatches == 0 else 'missed'}")
    for key, ours, theirs in comparison.examples:
        print(f"  mismatch {key}: portal {ours:.6f}, pysam {theirs:.6f}")
    for kind, (ours, theirs, lines) in comparison.totals.items():
        print(f"{kind}: {lines} lines, portal ${ours:,.6f}, pysam ${theirs:,.6f}")
    billing_cpu = statistics.median(t.cpu + t.postgres_cpu for t in results.billing)
    pysam_cpu = statistics.median(t.cpu + t.postgres_cpu for t in results.pysam)
    # CPU seconds are disturbed far less than the rates by other work on a shared machine.
    print(
        f"cpu per round (medians, side + postgres): billing {billing_cpu:.1f} s, pysam {pysam_cpu:.1f} s, "
        f"cpu ratio {pysam_cpu / billing_cpu:.2f}"
    )
    count, differing, largest, prices = checks
    print(
        f"pysam vs numpy Σ kWh × price: {count - differing}/{count} charges agree within "
        f"${CHECK_TOLERANCE} (largest difference ${largest:.2e})"
    )
    vectors = results.last_pysam.vectors
    print(
        f"price vectors vs billing.schedule: {'the same' if not prices else f'{prices} intervals differ'} "
        f"({len(vectors)} tariffs × {bench.data.month.intervals} intervals)"
    )
    if not results.runs_ok:
        print("bench-billing: a run failed, held bills or recorded errors", file=sys.stderr)
    return results.runs_ok and comparison.mismatches == 0 and not differing and not prices


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it comes, even into a file
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    # This process enqueues the run: to the bench's own Redis database, never eagerly.
    os.environ["REDIS_URL"] = REDIS_URL
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    began = time.time()
    first_day = dt.date.fromisoformat(f"{MONTH}-01")
    if ROUNDS < 1 or WORKERS < 1 or PREMISES < 1 or BATCH < 1:
        raise SystemExit("BENCH_PREMISES, BENCH_ROUNDS, BENCH_WORKERS and BENCH_PYSAM_BATCH must be ≥ 1")
    setup_django()
    from django.db import connection

    from billing.models import DEFAULT_TIME_ZONE

    if pysam.Month.of(first_day, DEFAULT_TIME_ZONE).end > dt.datetime.now(dt.UTC):
        raise SystemExit(f"BENCH_MONTH {MONTH} has not ended yet: the portal bills a month once it is over")
    # Not test_<name>: a test run on the same server may be using that one right now.
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_billing_{os.getpid()}"
    purge_redis()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-billing-") as tmp, throwaway_database() as vendor:
            if vendor != "postgresql":
                raise SystemExit("bench-billing measures PostgreSQL: DATABASE_URL must be a postgres:// URL")
            loading = time.perf_counter()
            data = load_data_set(PREMISES, first_day)
            reads = month_reads(data.month)
            loading = time.perf_counter() - loading
            print_header(vendor, data, reads, loading)
            passed = measure(data, reads, Path(tmp))
    finally:
        purge_redis()
    print(f"total: {time.time() - began:.0f} s")
    return 0 if passed else 1


def measure(data: DataSet, reads: int, directory: Path) -> bool:
    """Start the worker (and the PySAM pool), run the rounds, compare and report; stop what was started."""
    from django.db import connection

    database = connection.settings_dict["NAME"]
    url = urllib.parse.urlsplit(os.environ["DATABASE_URL"])
    database_url = url._replace(path="/" + database).geturl()
    log_path = directory / "worker.log"
    bench = Bench(data, reads, database, start_worker(worker_environment(database_url, directory), log_path))
    try:
        wait_for_worker(bench.worker, log_path)
        pysam.start_worker(database_url)
        if WORKERS > 1:
            bench.pool = multiprocessing.get_context("spawn").Pool(
                WORKERS, initializer=pysam.start_worker, initargs=(database_url,)
            )
        results = Results()
        for number in range(1, ROUNDS + 1):
            run_round(number, bench, results)
        comparison = compare(portal_lines(results.last_run.pk), results.last_pysam.rated.lines)
        checks = (
            *check_against_numpy(data, results.last_pysam),
            check_price_vectors(results.last_pysam.vectors, data.month),
        )
    finally:
        if bench.pool is not None:
            bench.pool.close()
            bench.pool.join()
        pysam.stop_worker()
        stop_worker(bench.worker)
        log = log_path.read_text(errors="replace") if log_path.exists() else ""
        if "Traceback" in log:
            print("worker log (tail):\n" + log[-3000:])
    return report(results, bench, comparison, checks)


def print_header(vendor: str, data: DataSet, reads: int, loading: float) -> None:
    print(
        f"bench-billing: {len(data.premises)} premises, {data.month.first_day:%Y-%m} in {data.month.zone} "
        f"({data.month.intervals} intervals), {ROUNDS} rounds, Celery worker and PySAM in {WORKERS} "
        f"process(es) each, database {vendor}, broker {REDIS_URL}, {os.cpu_count()} cores"
    )
    print(
        f"data set: {reads:,} reads in the month (PEV and premise), {data.sessions} sessions "
        f"({data.timed_out} timed out, {data.failed} failed correlation); loaded in {loading:.0f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
