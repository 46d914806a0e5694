"""`make bench-ingest`: EUMD reads over signed HTTP into the production server stack on PostgreSQL, against
the same rows loaded straight into an identical table with COPY (issue 5, "Performance").

In a database of its own (bench_ingest_<pid> on DATABASE_URL's server, else 127.0.0.1:5432; dropped
afterwards) it loads BENCH_EUMDS homes set-based: premise with its default tariff, customer, account, PEV,
active enrollment on an EV plan, an ESCI and an EUMD with certificates from a device CA in a temporary
directory, and a bound session every night (22:00Z to 06:00Z) over the whole data range, so that ingest
attributes a third of the reads to a session and its enrollment. The reads are BENCH_BATCH_READS
consecutive 15-minute intervals per EUMD ending at yesterday 00:00Z: 104 days at 10,000, all rounds over
the same days so that they stay within the tariffs' versions and the rollups price every read. Each round,
every BENCH_ROUNDS-th EUMD sends its reads as one batch (a fresh batch_id; no other round sends that
EUMD's), in two phases, each with BENCH_CONCURRENCY in parallel:

- http: `POST /device/v1/readings`, signed by the EUMD, to the portal served as production does
  (PEVPORTAL_ENV=production, gunicorn gthread, behind a TLS proxy as in bench/binding.py). Afterwards every
  read must be stored exactly once: each answer accepted the whole batch, and metering_pevread holds as
  many rows in the round's range as reads were sent (`stored`).
- copy: the same rows, as the server stores them (meter, interval, energy, flags, VIN, premise, binding,
  enrollment, batch), into bench_pevread — `LIKE metering_pevread INCLUDING ALL`, with the same daily
  partitions — by COPY into a staging table and `INSERT … SELECT … ON CONFLICT DO NOTHING`, one
  transaction a batch, over psycopg connections. The two tables must then agree on the round's rows.

Both tables' partitions for the whole data range are created before any timing (metering.partitions.
ensure_partitions for the server's), so partition DDL is in neither measurement. The server creates each
EUMD's meter row on its first batch, in a warm-up (one day of reads per EUMD, both phases) that is not
measured. Bodies and the baseline's COPY rows are built before each phase; the HTTP batches are signed as
they go out, each on a new connection (bench/ingest_load.py says why).

Prints the medians `http: N reads/s`, `copy: N reads/s` and `ratio` (http ÷ copy), the goals, and CPU
per batch of the server, PostgreSQL and the load generator — which other work on a shared machine
disturbs far less than the rates. BENCH_SERVER, BENCH_WORKERS, BENCH_THREADS, BENCH_REDIS_URL and
BENCH_RATE_LIMIT choose the server as for bench/binding.py.
"""

import asyncio
import contextlib
import datetime as dt
import os
import secrets
import shlex
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import binding as server_stack
from bench import binding_load as load
from bench import ingest_load as reads
from bench.harness import setup_django, throwaway_database

EUMDS = int(os.environ.get("BENCH_EUMDS", "200"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
BATCH_READS = int(os.environ.get("BENCH_BATCH_READS", "10000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"

GOAL_RATE = 100_000
GOAL_RATIO = 0.5
READINGS_PATH = "/device/v1/readings"
TIME_PATH = "/device/v1/time"
BASELINE_TABLE = "bench_pevread"
WARM_UP_READS = reads.DAY // reads.INTERVAL_SECONDS


@dataclass(frozen=True)
class DataRange:
    """The warm-up day, then the window of BATCH_READS intervals (104 days at 10,000) that ends at
    yesterday 00:00Z. Each round sends the window's reads of its own EUMDs."""

    first_day: dt.date
    end: int  # epoch seconds

    @classmethod
    def ending_yesterday(cls) -> "DataRange":
        today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        end = int(today.timestamp()) - reads.DAY
        first_read = end - BATCH_READS * reads.INTERVAL_SECONDS
        warm_up = dt.datetime.fromtimestamp(first_read, tz=dt.UTC).date() - dt.timedelta(days=1)
        return cls(warm_up, end)

    @property
    def first(self) -> int:
        return int(dt.datetime.combine(self.first_day, dt.time(), dt.UTC).timestamp())

    @property
    def nights(self) -> int:
        """Sessions plugged in from the first day's 22:00Z to the last day's, the one in progress at the end
        included."""
        return (self.end - self.first) // reads.DAY

    @property
    def first_night(self) -> int:
        return self.first + reads.SESSION_START

    def warm_up_window(self) -> reads.Window:
        return reads.Window.of(self.first, WARM_UP_READS, self.first_night, self.nights)

    def window(self) -> reads.Window:
        first = self.end - BATCH_READS * reads.INTERVAL_SECONDS
        return reads.Window.of(first, BATCH_READS, self.first_night, self.nights)

    def days(self) -> list[dt.date]:
        last = dt.datetime.fromtimestamp(self.end - 1, tz=dt.UTC).date()
        return [self.first_day + dt.timedelta(days=n) for n in range((last - self.first_day).days + 1)]


# --- The data set ---------------------------------------------------------------------------------------


def load_homes(count: int, data: DataRange) -> list[reads.Home]:
    """`count` enrolled homes with registered devices and a bound session every night, written set-based
    (COPY); returns what the EUMDs and the baseline need."""
    from cryptography.hazmat.primitives.serialization import Encoding
    from django.db import connection
    from django.utils import timezone

    from bench.enrollment_import import enroll_homes, load_registry
    from binding import parameters
    from binding.ca import issue_key_and_certificate
    from binding.identity import certificate_lfdi, sfdi
    from binding.models import Binding, Device, DeviceKind
    from enrollment.models import (
        Enrollment,
        PlanAssignment,
        ServicePlan,
    )
    from pevportal.bulk import insert_rows

    now = timezone.now()
    enrolled = dt.datetime.combine(data.first_day - dt.timedelta(days=30), dt.time(), dt.UTC)
    load_registry(count)  # tariffs, programmes, and one customer, account and premise per home
    plan = ServicePlan.objects.select_related("tariff").get(code="ev-standard")
    if plan.eumd_interval_seconds != reads.INTERVAL_SECONDS:
        raise RuntimeError(f"plan ev-standard reads every {plan.eumd_interval_seconds} s, not 900")
    keys, vins, pevs, premises = enroll_homes(count, [plan] * count, enrolled)
    enrollments = dict(Enrollment.objects.values_list("pev_id", "pk"))
    insert_rows(
        PlanAssignment,
        ["enrollment_id", "plan_id", "effective_from"],
        ((enrollment, plan.pk, enrolled) for enrollment in enrollments.values()),
    )

    devices, signers = [], []
    for k in keys:
        _, esci_cert = issue_key_and_certificate(f"esci-{k}")
        eumd_key, eumd_cert = issue_key_and_certificate(f"eumd-{k}")
        for kind, certificate in ((DeviceKind.ESCI, esci_cert), (DeviceKind.EUMD, eumd_cert)):
            lfdi = certificate_lfdi(certificate)
            devices.append(
                (
                    kind,
                    lfdi,
                    sfdi(lfdi),
                    certificate.public_bytes(Encoding.PEM).decode(),
                    certificate.not_valid_after_utc,
                    premises[f"P{k}"]["pk"],
                    True,
                    "",
                    19_200,
                )
            )
        signers.append((certificate_lfdi(esci_cert), load.PreSigner(certificate_lfdi(eumd_cert), eumd_key)))
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
        devices,
    )
    device_ids = dict(Device.objects.values_list("lfdi", "pk"))

    # A re-binding every night, bound and ended at the unplug, as binding/handshake.py leaves it.
    version = parameters.parameters_version(plan, now)
    homes, bindings = [], []
    for k, v, (esci_lfdi, eumd) in zip(keys, vins, signers, strict=True):
        pev, premise = pevs[v]["pk"], premises[f"P{k}"]["pk"]
        enrollment = enrollments[pev]
        sessions = tuple(str(uuid.uuid4()) for _ in range(data.nights))
        homes.append(reads.Home(eumd, v, premise, enrollment, sessions))
        for night, binding_id in enumerate(sessions):
            plugged = dt.datetime.fromtimestamp(data.first_night + night * reads.DAY, tz=dt.UTC)
            unplugged = plugged + dt.timedelta(seconds=reads.SESSION_SECONDS)
            bindings.append(
                (
                    binding_id,
                    device_ids[esci_lfdi],
                    eumd.lfdi,
                    device_ids[eumd.lfdi],
                    v,
                    pev,
                    premise,
                    enrollment,
                    enrollment,
                    Binding.Kind.REBINDING,
                    Binding.State.ENDED,
                    "",
                    plugged,
                    plugged + dt.timedelta(seconds=plan.binding_timeout_seconds),
                    plugged + dt.timedelta(seconds=2),
                    unplugged,
                    unplugged,
                    version,
                    {},
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
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # a production database has planner statistics; a fresh load has none
    return homes


def create_partitions(data: DataRange) -> None:
    """Every day's partition of the server's read tables and of the baseline's identical table."""
    from django.db import connection

    from metering.partitions import ensure_partitions, partition_name

    first = dt.datetime.combine(data.first_day, dt.time(), dt.UTC)
    ensure_partitions(first, dt.datetime.fromtimestamp(data.end - 1, tz=dt.UTC))
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {BASELINE_TABLE} (LIKE metering_pevread INCLUDING ALL) "
            "PARTITION BY RANGE (interval_start)"
        )
        for day in data.days():
            start = dt.datetime.combine(day, dt.time(), dt.UTC)
            cursor.execute(
                f"CREATE TABLE {partition_name(BASELINE_TABLE, day)} PARTITION OF {BASELINE_TABLE} "
                "FOR VALUES FROM (%s) TO (%s)",
                [start, start + dt.timedelta(days=1)],
            )


def meters_by_eumd(homes: list[reads.Home]) -> dict[str, int]:
    """The meter the server made for each EUMD on its first batch."""
    from metering.models import Meter

    found = dict(
        Meter.objects.filter(kind="eumd", eumd__lfdi__in=[home.eumd.lfdi for home in homes]).values_list(
            "eumd__lfdi", "pk"
        )
    )
    missing = len(homes) - len(found)
    if missing:
        raise RuntimeError(f"{missing} EUMDs have no meter after their first batch")
    return found


def totals(table: str, window: reads.Window, meters: list[int]) -> tuple[int, ...]:
    """Rows, energy, attributed rows, rows with an enrollment and flagged rows of some meters in a window."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(wh), 0), count(binding_id), count(enrollment_id), "  # noqa: S608
            f"count(*) FILTER (WHERE flags <> 0) FROM {table} "
            "WHERE meter_id = ANY(%s) AND interval_start >= %s AND interval_start < %s",
            [
                meters,
                dt.datetime.fromtimestamp(window.first, tz=dt.UTC),
                dt.datetime.fromtimestamp(window.end, tz=dt.UTC),
            ],
        )
        return tuple(int(value) for value in cursor.fetchone())


# --- The phases -----------------------------------------------------------------------------------------


@dataclass
class Measured:
    outcome: load.Outcome
    reads: int
    # CPU seconds during the phase of what feeds PostgreSQL: the server's processes, or for copy the
    # loader (this process)
    feeder_cpu: float
    postgres_cpu: float  # of the PostgreSQL backends serving the bench's database, and the WAL writer
    # Each server process's share, busiest first: a worker's threads share one core (the GIL).
    server_processes: list[float]

    @property
    def rate(self) -> float:
        return self.reads / self.outcome.seconds if self.outcome.seconds else 0.0

    @property
    def cpu_per_batch(self) -> float:
        return (self.feeder_cpu + self.postgres_cpu) / (self.outcome.answered or 1)


class Bench:
    def __init__(self, homes: list[reads.Home], target: reads.Target, server, database: str, conninfo: str):
        self.homes = homes
        self.target = target
        self.server = server
        self.database = database
        self.conninfo = conninfo
        self.meters: dict[str, int] = {}
        self.numbered = 0

    def batches(self, window: reads.Window, round_number: int, homes: list[reads.Home]) -> list[reads.Batch]:
        """One batch per home's EUMD over the window, each with a fresh batch_id."""
        built = []
        for home in homes:
            self.numbered += 1
            batch_id = f"bench-{round_number}-{self.numbered}-{secrets.token_hex(8)}"
            built.append(reads.Batch.of(home, window, batch_id, self.numbered))
        return built

    def measured(self, run: Callable[[], load.Outcome], count: int, *, server: bool) -> Measured:
        server_pids = load.process_tree(self.server.pid) if server else []
        postgres_pids = load.postgres_pids(self.database)
        server_before = load.cpu_by_pid(server_pids)
        postgres_before = load.cpu_by_pid(postgres_pids)
        outcome = run()
        server_after = load.cpu_by_pid(server_pids)
        postgres_after = load.cpu_by_pid(sorted(set(postgres_pids) | set(load.postgres_pids(self.database))))
        by_process = [seconds - server_before.get(pid, 0.0) for pid, seconds in server_after.items()]
        return Measured(
            outcome,
            count,
            sum(by_process) if server else outcome.cpu_seconds,
            load.cpu_used(postgres_before, postgres_after),
            sorted(by_process, reverse=True),
        )

    def http(self, batches: list[reads.Batch]) -> Measured:
        requests = [(batch.home.eumd, batch.body(), batch.count) for batch in batches]
        return self.measured(
            lambda: asyncio.run(reads.send_batches(self.target, requests, concurrency=CONCURRENCY)),
            sum(batch.count for batch in batches),
            server=True,
        )

    def meter_ids(self, batches: list[reads.Batch]) -> list[int]:
        if not self.meters:
            self.meters = meters_by_eumd(self.homes)
        return [self.meters[batch.home.eumd.lfdi] for batch in batches]

    def copy(self, batches: list[reads.Batch]) -> Measured:
        self.meter_ids(batches)
        rows = [(batch.copy_rows(self.meters[batch.home.eumd.lfdi]), batch.count) for batch in batches]
        loader = reads.CopyLoader(self.conninfo, BASELINE_TABLE, CONCURRENCY)
        try:
            count = sum(batch.count for batch in batches)
            return self.measured(lambda: loader.run(rows), count, server=False)
        finally:
            loader.close()


def check(name: str, measured: Measured) -> None:
    errors = measured.outcome.errors
    if errors:
        raise RuntimeError(f"{name}: {len(errors)} batches failed, e.g. {errors[:3]}")


def describe(measured: Measured, *, feeder: str) -> str:
    """Batches, time and median latency; CPU per batch, and in cores busy (per server process too)."""
    outcome = measured.outcome
    seconds, answered = outcome.seconds or 1, outcome.answered or 1
    busy = f"cores busy: {feeder} {measured.feeder_cpu / seconds:.2f}"
    if measured.server_processes:
        shares = ", ".join(f"{cpu / seconds:.2f}" for cpu in measured.server_processes)
        busy += f" (by process {shares}), postgres {measured.postgres_cpu / seconds:.2f}"
        busy += f", generator {outcome.cpu_seconds / seconds:.2f}"
    else:
        busy += f", postgres {measured.postgres_cpu / seconds:.2f}"
    p50 = 1000 * load.percentile(outcome.latencies, 0.5)
    return "; ".join(
        [
            f"{answered} batches in {seconds:.1f} s, p50 {p50:.0f} ms",
            f"cpu per batch: {feeder} {1000 * measured.feeder_cpu / answered:.0f} ms, "
            f"postgres {1000 * measured.postgres_cpu / answered:.0f} ms",
            busy,
        ]
    )


@dataclass
class Results:
    http: list[float] = field(default_factory=list)  # reads/s
    copy: list[float] = field(default_factory=list)
    http_cpu: list[float] = field(default_factory=list)  # CPU seconds per batch
    copy_cpu: list[float] = field(default_factory=list)
    generator: list[float] = field(default_factory=list)  # % of a core
    stored: int = 0
    sent: int = 0
    identical: bool = True


def run_round(bench: Bench, data: DataRange, number: int, results: Results) -> None:
    """One round's http and copy phases, the window's reads of every ROUNDS-th EUMD; odd rounds start with
    http, even ones with copy, so that neither always meets the other's after-effects (checkpoints,
    autovacuum)."""
    window = data.window()
    batches = bench.batches(window, number, bench.homes[number - 1 :: ROUNDS])
    meters = bench.meter_ids(batches)
    phases = ("http", "copy") if number % 2 else ("copy", "http")
    for phase in phases:
        if phase == "http":
            measured = bench.http(batches)
            check("http", measured)
            stored = totals("metering_pevread", window, meters)[0]
            results.stored += stored
            results.sent += measured.reads
            results.http.append(measured.rate)
            results.http_cpu.append(measured.cpu_per_batch)
            results.generator.append(measured.outcome.cpu_percent)
            print(
                f"  round {number}: http {measured.rate:,.0f} reads/s "
                f"({describe(measured, feeder='server')}); stored {stored}/{measured.reads}"
            )
        else:
            measured = bench.copy(batches)
            check("copy", measured)
            results.copy.append(measured.rate)
            results.copy_cpu.append(measured.cpu_per_batch)
            print(
                f"  round {number}: copy {measured.rate:,.0f} reads/s ({describe(measured, feeder='loader')})"
            )
    served, baseline = totals("metering_pevread", window, meters), totals(BASELINE_TABLE, window, meters)
    if served != baseline:
        results.identical = False
        print(
            f"  round {number}: the tables differ (rows, Wh, attributed, enrolled, flagged): "
            f"served {served}, baseline {baseline}"
        )


def warm_up(bench: Bench, data: DataRange) -> None:
    """A day of reads from every EUMD through both paths: the server makes the meters, loads its code
    and fills its connection pools; nothing is measured."""
    window = data.warm_up_window()
    batches = bench.batches(window, 0, bench.homes)
    check("warm-up http", bench.http(batches))
    check("warm-up copy", bench.copy(batches))
    meters = bench.meter_ids(batches)
    served, baseline = totals("metering_pevread", window, meters), totals(BASELINE_TABLE, window, meters)
    if served != baseline:
        raise RuntimeError(f"warm-up: the server stored {served}, the baseline {baseline}")


def report(results: Results) -> bool:
    """Medians and goals; True when every read was stored once and the tables agree."""
    http, copy = statistics.median(results.http), statistics.median(results.copy)
    ratio = http / copy
    print(f"http: {http:,.0f} reads/s")
    print(f"copy: {copy:,.0f} reads/s")
    print(f"ratio: {ratio:.2f}")
    print(f"goal: http ≥ {GOAL_RATE:,} reads/s: {'met' if http >= GOAL_RATE else 'missed'}")
    print(f"goal: ratio ≥ {GOAL_RATIO}: {'met' if ratio >= GOAL_RATIO else 'missed'}")
    print(f"stored: {results.stored}/{results.sent}")
    print(
        "baseline: "
        + ("the same" if results.identical else "NOT the same")
        + " reads as the server stored (rows, Wh, attributed, enrolled, flagged)"
    )
    http_cpu, copy_cpu = statistics.median(results.http_cpu), statistics.median(results.copy_cpu)
    per_read = http_cpu / BATCH_READS
    print(
        f"cpu per batch of {BATCH_READS}: http {1000 * http_cpu:.0f} ms (server + postgres), copy "
        f"{1000 * copy_cpu:.0f} ms (loader + postgres), medians: cpu ratio {copy_cpu / http_cpu:.2f}, "
        f"at most {os.cpu_count() / per_read:,.0f} reads/s over http on {os.cpu_count()} idle cores"
    )
    print(f"load generator cpu: {max(results.generator):.0f}% of one core at most (http)")
    return results.stored == results.sent and results.identical


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it comes, even into a file
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    began = time.time()
    if not 1 <= ROUNDS <= EUMDS:
        raise SystemExit("BENCH_ROUNDS must lie between 1 and BENCH_EUMDS: each round has EUMDs of its own")
    data = DataRange.ending_yesterday()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        directory = Path(tmp)
        os.environ["DEVICE_CA_DIR"] = str(directory / "device-ca")
        os.environ["UTILITY_SIGNING_KEY"] = str(directory / "utility-signing-key.pem")
        setup_django()
        from django.db import connection

        from binding import jws

        # Not test_<name>: a test run on the same server may be using that one right now.
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_ingest_{os.getpid()}"
        with throwaway_database() as vendor:
            if vendor != "postgresql":
                raise SystemExit("bench-ingest measures PostgreSQL: DATABASE_URL must be a postgres:// URL")
            jws.signing_key()  # created here, as an operator would; production only loads it
            loading = time.perf_counter()
            homes = load_homes(EUMDS, data)
            create_partitions(data)
            loading = time.perf_counter() - loading
            load.check_against_library(homes[0].eumd, f"https://{server_stack.HOST}:8000{READINGS_PATH}")
            url = urllib.parse.urlsplit(os.environ["DATABASE_URL"])
            database = connection.settings_dict["NAME"]
            database_url = url._replace(path="/" + database).geturl()
            port = server_stack.free_port()
            log_path = directory / "server.log"
            env = server_stack.server_environment(database_url, directory)
            server = server_stack.start_server(port, env, log_path)
            try:
                target = reads.Target(server_stack.HOST, port, READINGS_PATH)
                bench = Bench(homes, target, server, database, database_url)
                probe = {"X-Forwarded-Proto": "https"}
                probe.update(
                    homes[0].eumd.sign(
                        "GET", f"https://{target.authority}{TIME_PATH}", None, created=int(time.time())
                    )
                )
                asyncio.run(
                    server_stack.wait_ready(
                        port, load.http_request("GET", TIME_PATH, target.authority, probe), server, log_path
                    )
                )
                print_header(vendor, env, loading, port, data)
                warm_up(bench, data)
                results = Results()
                for number in range(1, ROUNDS + 1):
                    run_round(bench, data, number, results)
            finally:
                server_stack.stop_server(server)
                log = log_path.read_text(errors="replace")
                if "Traceback" in log:
                    print("server log (tail):\n" + log[-3000:])
    passed = report(results)
    print(f"total: {time.time() - began:.0f} s")
    if not passed:
        print("ingest: reads were lost, duplicated or stored differently from the baseline", file=sys.stderr)
        return 1
    return 0


def print_header(vendor: str, env: dict[str, str], loading: float, port: int, data: DataRange) -> None:
    stack = f"{server_stack.SERVER} {server_stack.WORKERS} workers" + (
        f" x {server_stack.THREADS} threads (gthread)" if server_stack.SERVER == "gunicorn" else ""
    )
    first = dt.datetime.fromtimestamp(data.window().first, tz=dt.UTC)
    end = dt.datetime.fromtimestamp(data.end, tz=dt.UTC)
    print(
        f"ingest: {EUMDS} EUMDs, {ROUNDS} rounds of {BATCH_READS}-read batches from a {1 / ROUNDS:.0%} share "
        f"of them (~{EUMDS * BATCH_READS // ROUNDS:,} reads a round), {CONCURRENCY} in parallel, {stack}, "
        f"database {vendor}, cache {'redis' if env['REDIS_URL'] else 'local memory'}, {os.cpu_count()} cores"
    )
    print(
        f"data set: {EUMDS} homes with {data.nights} bound nights each, reads {first:%Y-%m-%d %H:%M}Z to "
        f"{end:%Y-%m-%d %H:%M}Z, {len(data.days())} daily partitions per table; loaded in {loading:.0f} s"
    )
    print(f"server: {shlex.join(server_stack.server_command(port)[1:])}")


if __name__ == "__main__":
    sys.exit(main())
