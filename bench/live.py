"""`make bench-live`: live charging status from the device endpoint to customers' open WebSockets (issue 7,
"Performance"), on the production server stack with PostgreSQL and channels_redis.

In a database of its own (bench_live_<pid> on DATABASE_URL's server, else 127.0.0.1:5432; dropped afterwards)
it loads BENCH_SOCKETS commissioned homes set-based as bench/binding.py does (premise, customer, account, PEV,
active enrollment, an ESCI and an EUMD with certificates from a temporary device CA), gives each a session
bound now, and a customer login linked to its account, signed in by a session row written directly. The
portal is served as production serves it (docs/operations.md; PEVPORTAL_ENV=production, channels_redis on
BENCH_REDIS_URL — default redis://127.0.0.1:6379/10, purged first): the device API by gunicorn's threaded
WSGI workers behind a TLS proxy (device requests carry `X-Forwarded-Proto: https` and are signed for
https://; bench/binding.py's server), the WebSockets by uvicorn. Then, from one asyncio process:

- every customer opens `/ws/live/` with their session cookie and the site's Origin, and waits for the
  snapshot of their one live panel (`sockets open`);
- BENCH_RATE signed `POST /device/v1/pev-status` a second for BENCH_SECONDS (Poisson arrivals, over a pool
  of keep-alive connections), each for a random home's binding, signed by its ESCI as it goes out; a home
  reports at most once a second, since a report no later than the stored one is ignored (no event). Each
  report's `power_w` is unique, so its panel is recognised on the home's socket: the latency is from the
  moment the POST is written to the moment the panel arrives (`p50`, `p99`);
- side by side, BENCH_BASELINE_RATE bare `group_send`s a second from this process to a random home's
  account group, through the same channel layer and consumers: the floor any event pays
  (`baseline p50`, `baseline p99`, and `ratio` = p99 ÷ baseline p99).

It also prints the device endpoint's own answer times and the CPU the server, PostgreSQL, Redis and the load
generator spent: on a 2-core machine they share the cores, which the latencies include. BENCH_SERVER,
BENCH_WORKERS and BENCH_THREADS choose the HTTP server as for bench/binding.py (gunicorn, 3 × 2 threads),
BENCH_WS_SERVER (uvicorn|daphne) and BENCH_WS_WORKERS (1) the WebSocket server, BENCH_HTTP_CONNECTIONS the
load generator's keep-alive pool (32). `make bench-live` then runs bench/dashboard.py.
"""

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import resource
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench import binding as server_stack
from bench import binding_load as load
from bench.harness import setup_django, throwaway_database

SECONDS = float(os.environ.get("BENCH_SECONDS", "120"))
SOCKETS = int(os.environ.get("BENCH_SOCKETS", "1000"))
RATE = float(os.environ.get("BENCH_RATE", "100"))
BASELINE_RATE = float(os.environ.get("BENCH_BASELINE_RATE", "20"))
WS_SERVER = os.environ.get("BENCH_WS_SERVER", "uvicorn")
WS_WORKERS = int(os.environ.get("BENCH_WS_WORKERS", "1"))
HTTP_CONNECTIONS = int(os.environ.get("BENCH_HTTP_CONNECTIONS", "32"))
CONNECT_CONCURRENCY = 50
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"  # its own database: purged before the run
DRAIN_SECONDS = 5.0  # after the last send, how long late receipts are still awaited

GOAL_P99_MS = 50
HOST = "127.0.0.1"
STATUS_PATH = "/device/v1/pev-status"
SOCKET_PATH = "/ws/live/"


@dataclass(frozen=True)
class LiveHome:
    """One home: its ESCI's key, its bound session, its account's channel group and its customer's session."""

    esci: load.PreSigner
    binding_id: str
    account_id: int
    session_key: str


# --- The data set ---------------------------------------------------------------------------------------


def load_live_homes(count: int) -> list[LiveHome]:
    """bench/binding.py's commissioned homes, each with a session bound now and a signed-in customer."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.db import connection
    from django.utils import timezone

    from binding.models import Binding, Device
    from enrollment.models import AccountLink, Enrollment, Premise
    from pevportal.bulk import insert_rows

    homes = server_stack.load_homes(count)
    now = timezone.now()
    plugged = now - dt.timedelta(minutes=5)
    premises = {
        p: (pk, account) for p, pk, account in Premise.objects.values_list("premise_id", "pk", "account")
    }
    devices = dict(Device.objects.values_list("lfdi", "pk"))
    enrollments = {
        vin: (pk, pev) for vin, pk, pev in Enrollment.objects.values_list("pev__vin", "pk", "pev_id")
    }
    sessions = [uuid.uuid4() for _ in homes]
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
            "parameters_version",
            "pev_public_jwk",
            "response",
        ],
        (
            (
                binding_id,
                devices[home.esci.lfdi],
                home.eumd_lfdi,
                devices[home.eumd_lfdi],
                home.vin,
                enrollments[home.vin][1],
                premises[home.premise_id][0],
                enrollments[home.vin][0],
                enrollments[home.vin][0],
                Binding.Kind.REBINDING,
                Binding.State.BOUND,
                "",
                plugged,
                plugged + dt.timedelta(seconds=60),
                plugged + dt.timedelta(seconds=1),
                "",
                None,
                {},
            )
            for binding_id, home in zip(sessions, homes, strict=True)
        ),
    )

    # One customer per home, linked to its account and signed in: a session row as a login writes it.
    User = get_user_model()
    password = make_password(None)
    insert_rows(
        User,
        ["username", "email", "password", "is_active", "is_staff", "is_superuser", "first_name", "last_name",
         "date_joined"],
        ((f"customer{n}", f"customer{n}@example.com", password, True, False, False, "", "", now)
         for n in range(count)),
    )  # fmt: skip
    users = {u.username: u for u in User.objects.filter(username__startswith="customer")}
    insert_rows(
        AccountLink,
        ["user_id", "account_id", "method", "linked_at"],
        (
            (users[f"customer{n}"].pk, premises[home.premise_id][1], "verified", now)
            for n, home in enumerate(homes)
        ),
    )
    keys, rows = [], []
    store = SessionStore()
    for n in range(count):
        user = users[f"customer{n}"]
        key = secrets.token_hex(16)
        data = {
            "_auth_user_id": str(user.pk),
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": user.get_session_auth_hash(),
        }
        keys.append(key)
        rows.append((key, store.encode(data), now + dt.timedelta(days=1)))
    insert_rows(Session, ["session_key", "session_data", "expire_date"], rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return [
        LiveHome(home.esci, str(binding_id), premises[home.premise_id][1], key)
        for home, binding_id, key in zip(homes, sessions, keys, strict=True)
    ]


# --- The server -----------------------------------------------------------------------------------------


def socket_server_command(port: int) -> list[str]:
    """The WebSocket server as docs/operations.md runs it (the proxy routes /ws/ to it)."""
    python = sys.executable
    if WS_SERVER == "uvicorn":
        return [
            python, "-m", "uvicorn", "pevportal.asgi:application", "--host", HOST, "--port", str(port),
            "--workers", str(WS_WORKERS), "--no-proxy-headers", "--no-access-log", "--lifespan", "off",
            "--log-level", "warning",
        ]  # fmt: skip
    if WS_SERVER == "daphne":
        return [python, "-m", "daphne", "-b", HOST, "-p", str(port), "pevportal.asgi:application"]
    raise SystemExit(f"BENCH_WS_SERVER must be uvicorn or daphne (WebSockets need ASGI), got {WS_SERVER!r}")


def start_socket_server(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    from django.conf import settings

    with log_path.open("wb") as log:
        # A session of its own: stopping the bench stops the master and its workers, nothing else.
        return subprocess.Popen(  # noqa: S603 — our own interpreter and fixed arguments
            socket_server_command(port),
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def wait_ready(port: int, server: subprocess.Popen, log_path: Path) -> None:
    probe = load.http_request("GET", "/healthz", f"{HOST}:{port}", {"X-Forwarded-Proto": "https"})
    deadline = time.time() + 90
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited: {log_path.read_text()[-3000:]}")
        try:
            connection = await load.Connection.open(HOST, port)
        except OSError:
            await asyncio.sleep(0.3)
            continue
        status, body = await connection.send(probe)
        connection.close()
        if status != 200:
            raise RuntimeError(f"/healthz answered {status}: {body[:500]!r}")
        return
    raise RuntimeError("the server did not start within 90 s")


def redis_pids() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    if cmdline.read().startswith(b"redis-server"):
                        found.append(int(entry))
            except OSError:
                continue
    return found


def purge(redis_url: str) -> None:
    """Empty the bench's Redis database: account pks repeat from run to run, and the groups a killed run
    left (kept a day) would route events to channels nobody reads."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()


# --- The run --------------------------------------------------------------------------------------------


@dataclass
class Results:
    sockets_open: int = 0
    connect_seconds: float = 0.0
    sent: int = 0
    acknowledged: int = 0
    errors: list[str] = field(default_factory=list)
    http: list[float] = field(default_factory=list)  # POST written → 202 read
    lag: list[float] = field(default_factory=list)  # POST due → written (waiting for a free connection)
    latencies: list[float] = field(default_factory=list)  # POST written → panel on the socket
    baseline_sent: int = 0
    baseline: list[float] = field(default_factory=list)  # group_send called → event on the socket
    unexpected: int = 0  # panels no post or baseline send of this run explains
    misdelivered: int = 0  # panels of another home's session
    cpu: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


class Run:
    def __init__(self, homes: list[LiveHome], http_port: int, socket_port: int):
        self.homes = homes
        self.port = http_port
        self.host = f"{HOST}:{http_port}"
        self.socket_host = f"{HOST}:{socket_port}"
        self.results = Results()
        self.posted: dict[int, float] = {}  # power_w (unique per post) → when the POST was written
        self.baseline_posted: dict[int, float] = {}
        self.last_second: dict[int, int] = {}  # home index → the second of its last report
        self.energy: dict[int, int] = {}
        self.idle: list[load.Connection] = []
        self.http_slots = asyncio.Semaphore(HTTP_CONNECTIONS)
        self.sockets: list = []

    # Sockets

    async def open_sockets(self) -> None:
        import websockets

        slots = asyncio.Semaphore(CONNECT_CONCURRENCY)
        origin = f"https://{HOST}"  # the site's pages, as the browser names their origin

        async def one(home: LiveHome):
            async with slots:
                try:
                    ws = await websockets.connect(
                        f"ws://{self.socket_host}{SOCKET_PATH}",
                        origin=origin,
                        additional_headers={"Cookie": f"sessionid={home.session_key}"},
                        open_timeout=60,
                        ping_interval=None,
                        max_queue=None,
                    )
                    snapshot = json.loads(await asyncio.wait_for(ws.recv(), 60))
                except Exception as error:
                    self.results.errors.append(f"socket: {error!r}")
                    return None
                panels = snapshot.get("panels") or []
                if snapshot.get("type") != "panels" or [p["binding_id"] for p in panels] != [home.binding_id]:
                    self.results.errors.append(f"socket snapshot: {str(snapshot)[:200]}")
                    await ws.close()
                    return None
                return ws, home

        began = time.perf_counter()
        self.sockets = [pair for pair in await asyncio.gather(*(one(home) for home in self.homes)) if pair]
        self.results.connect_seconds = time.perf_counter() - began
        self.results.sockets_open = len(self.sockets)

    async def read(self, ws, home: LiveHome) -> None:
        with contextlib.suppress(Exception):
            async for message in ws:
                arrived = time.perf_counter()
                event = json.loads(message)
                panel = event.get("panel") or {}
                if panel.get("binding_id") != home.binding_id:
                    self.results.misdelivered += 1  # another customer's session: must never happen
                    continue
                if "bench_baseline" in panel:
                    sent = self.baseline_posted.pop(panel["bench_baseline"], None)
                    if sent is not None:
                        self.results.baseline.append(arrived - sent)
                        continue
                elif panel.get("power_kw") is not None:
                    sent = self.posted.pop(round(panel["power_kw"] * 1000), None)
                    if sent is not None:
                        self.results.latencies.append(arrived - sent)
                        continue
                self.results.unexpected += 1

    # Status posts

    def status_request(self, index: int, power_w: int, second: int) -> bytes:
        home = self.homes[index]
        self.energy[index] = self.energy.get(index, 0) + 50
        body = json.dumps(
            {
                "binding_id": home.binding_id,
                "reported_at": server_stack.utc_text(second),
                "charging_state": "charging",
                "state_of_charge": round(20 + 70 * random.random(), 1),
                "power_w": power_w,
                "time_to_complete_s": 3600,
                "session_energy_wh": self.energy[index],
            },
            separators=(",", ":"),
        ).encode()
        headers = {"X-Forwarded-Proto": "https"}
        headers.update(home.esci.sign("POST", f"https://{self.host}{STATUS_PATH}", body, created=second))
        return load.http_request("POST", STATUS_PATH, self.host, headers, body)

    def pick_home(self, second: int) -> int | None:
        """A random home that has not reported in this second (its report would be ignored)."""
        for _ in range(50):
            index = random.randrange(len(self.homes))
            if self.last_second.get(index, -1) < second:
                self.last_second[index] = second
                return index
        return None

    async def post(self, power_w: int) -> None:
        scheduled = time.perf_counter()
        second = int(time.time())
        index = self.pick_home(second)
        if index is None:
            self.results.errors.append("no home free to report in this second")
            return
        data = self.status_request(index, power_w, second)
        async with self.http_slots:
            connection = self.idle.pop() if self.idle else await load.Connection.open(HOST, self.port)
            written = time.perf_counter()
            self.results.lag.append(written - scheduled)
            self.posted[power_w] = written
            self.results.sent += 1
            try:
                status, body = await connection.send(data)
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                self.results.errors.append(repr(error))
                connection.close()
                return
            self.results.http.append(time.perf_counter() - written)
            self.idle.append(connection)
        if status == 202:
            self.results.acknowledged += 1
        else:
            self.posted.pop(power_w, None)
            self.results.errors.append(f"HTTP {status}: {body[:200]!r}")

    async def baseline_send(self, layer, seq: int) -> None:
        from binding.live import EVENT_TYPE, group_name

        home = self.homes[random.randrange(len(self.homes))]
        event = {"type": EVENT_TYPE, "panel": {"binding_id": home.binding_id, "bench_baseline": seq}}
        self.baseline_posted[seq] = time.perf_counter()
        self.results.baseline_sent += 1
        await layer.group_send(group_name(home.account_id), event)

    async def schedule(self, rate: float, send, seconds: float) -> None:
        """`send(n)` at Poisson arrivals of `rate` a second for `seconds`, whatever the server's pace."""
        count = max(1, int(rate * seconds))
        tasks, start = [], time.perf_counter()
        for n, offset in enumerate(load.arrivals(count, seconds, "poisson", seed=int(rate * 1000) + 7)):
            delay = start + offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(send(n)))
        await asyncio.gather(*tasks)

    async def measure(self, servers: list[subprocess.Popen], database: str) -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        readers = [asyncio.ensure_future(self.read(ws, home)) for ws, home in self.sockets]
        http_server, socket_server = servers
        processes = {
            "http": load.process_tree(http_server.pid),
            "sockets": load.process_tree(socket_server.pid),
            "postgres": load.postgres_pids(database),
            "redis": redis_pids(),
        }
        before = {name: load.cpu_by_pid(pids) for name, pids in processes.items()}
        own = time.process_time()
        began = time.perf_counter()
        await asyncio.gather(
            self.schedule(RATE, lambda n: self.post(1000 + n), SECONDS),
            self.schedule(BASELINE_RATE, lambda n: self.baseline_send(layer, n), SECONDS),
        )
        self.results.seconds = time.perf_counter() - began
        deadline = time.perf_counter() + DRAIN_SECONDS
        while (self.posted or self.baseline_posted) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        processes["postgres"] = sorted(set(processes["postgres"]) | set(load.postgres_pids(database)))
        for name, pids in processes.items():
            self.results.cpu[name] = load.cpu_used(before[name], load.cpu_by_pid(pids))
        self.results.cpu["generator"] = time.process_time() - own
        for ws, _ in self.sockets:
            await ws.close()
        for reader in readers:
            reader.cancel()
        for connection in self.idle:
            connection.close()


# --- The report -----------------------------------------------------------------------------------------


def ms(values: list[float], fraction: float) -> float:
    return 1000 * load.percentile(values, fraction)


def report(results: Results) -> bool:
    seconds = results.seconds or 1
    received = len(results.latencies)
    print(f"sockets open: {results.sockets_open}/{SOCKETS} (opened in {results.connect_seconds:.1f} s)")
    print(
        f"posts sent: {results.sent}, acknowledged: {results.acknowledged}, received: {received} "
        f"({results.sent / seconds:.0f}/s over {results.seconds:.0f} s)"
    )
    if results.errors:
        print(f"errors: {len(results.errors)}, e.g. {results.errors[:3]}")
    print(f"panels on another customer's socket: {results.misdelivered}")
    if results.unexpected:
        print(f"unexpected panels: {results.unexpected}")
    print(
        f"http p50: {ms(results.http, 0.50):.0f} ms, http p99: {ms(results.http, 0.99):.0f} ms (POST → 202)"
    )
    p99 = ms(results.latencies, 0.99)
    print(
        f"send lag p50: {ms(results.lag, 0.50):.0f} ms, p99: {ms(results.lag, 0.99):.0f} ms "
        f"(POST due → written: the server's pace, when it falls behind {RATE:g}/s)"
    )
    print(f"p50: {ms(results.latencies, 0.50):.0f} ms")
    print(f"p99: {p99:.0f} ms (goal < {GOAL_P99_MS} ms: {'met' if p99 < GOAL_P99_MS else 'missed'})")
    print(f"max: {1000 * max(results.latencies, default=0):.0f} ms")
    baseline_p99 = ms(results.baseline, 0.99)
    print(
        f"baseline: {len(results.baseline)}/{results.baseline_sent} bare group_send events received "
        f"({BASELINE_RATE:g}/s)"
    )
    print(f"baseline p50: {ms(results.baseline, 0.50):.0f} ms")
    print(f"baseline p99: {baseline_p99:.0f} ms")
    print(f"ratio: {p99 / baseline_p99:.2f} (p99 ÷ baseline p99)")
    cpu = results.cpu
    posts = results.sent or 1
    per_post = 1000 * (cpu["http"] + cpu["sockets"] + cpu["postgres"]) / posts
    print(
        "cores busy: "
        + ", ".join(
            f"{name} {cpu.get(name, 0) / seconds:.2f}"
            for name in ("http", "sockets", "postgres", "redis", "generator")
        )
        + f"; servers + postgres cpu per post {per_post:.1f} ms (http {1000 * cpu['http'] / posts:.1f}, "
        f"sockets {1000 * cpu['sockets'] / posts:.1f}, postgres {1000 * cpu['postgres'] / posts:.1f})"
    )
    return (
        results.sockets_open == SOCKETS
        and received == results.sent == results.acknowledged
        and not results.misdelivered
    )


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL
    purge(redis_url)
    # This process sends the baseline's group_send through the same channel layer as the server.
    os.environ["REDIS_URL"] = redis_url
    # The session rows this process writes are signed with the server's key.
    secret_key = secrets.token_urlsafe(50)
    os.environ["SECRET_KEY"] = secret_key
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * SOCKETS + 4 * HTTP_CONNECTIONS + 256
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    began = time.time()
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        directory = Path(tmp)
        os.environ["DEVICE_CA_DIR"] = str(directory / "device-ca")
        os.environ["UTILITY_SIGNING_KEY"] = str(directory / "utility-signing-key.pem")
        setup_django()
        from django.db import connection

        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_live_{os.getpid()}"
        with throwaway_database() as vendor:
            if vendor != "postgresql":
                raise SystemExit("bench-live measures PostgreSQL: DATABASE_URL must be a postgres:// URL")
            loading = time.perf_counter()
            homes = load_live_homes(SOCKETS)
            loading = time.perf_counter() - loading
            url = urllib.parse.urlsplit(os.environ["DATABASE_URL"])
            database = connection.settings_dict["NAME"]
            database_url = url._replace(path="/" + database).geturl()
            http_port, socket_port = server_stack.free_port(), server_stack.free_port()
            env = server_stack.server_environment(database_url, directory)
            env.update(REDIS_URL=redis_url, SECRET_KEY=secret_key)
            connection.close()  # the servers' connections only, while they run
            logs = [directory / "http.log", directory / "sockets.log"]
            servers = [
                server_stack.start_server(http_port, env, logs[0]),
                start_socket_server(socket_port, env, logs[1]),
            ]
            try:
                for port, server, log_path in zip((http_port, socket_port), servers, logs, strict=True):
                    asyncio.run(wait_ready(port, server, log_path))
                print(
                    f"live: {SOCKETS} sockets, {RATE:g} status posts/s for {SECONDS:g} s, "
                    f"{BASELINE_RATE:g} baseline group_sends/s; database {vendor}, channel layer redis "
                    f"({redis_url}), {os.cpu_count()} cores"
                )
                print(
                    f"data set: {SOCKETS} homes, each with a bound session and a signed-in customer "
                    f"({loading:.0f} s)"
                )
                print(f"http: {shlex.join(server_stack.server_command(http_port)[1:])}")
                print(f"sockets: {shlex.join(socket_server_command(socket_port)[1:])}")
                run = Run(homes, http_port, socket_port)

                async def go():
                    await run.open_sockets()
                    await run.measure(servers, database)

                asyncio.run(go())
                ok = report(run.results)
            finally:
                for server in servers:
                    server_stack.stop_server(server)
                for log_path in logs:
                    log = log_path.read_text(errors="replace")
                    if "Traceback" in log:
                        print(f"{log_path.stem} server log (tail):\n" + log[-3000:])
    print(f"total: {time.time() - began:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
