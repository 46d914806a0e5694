"""The load side of `make bench-ingest`: readings batches as an EUMD sends them, the HTTP client that sends
them, and the baseline that loads the same rows straight into PostgreSQL with COPY.

Nothing here imports Django (as bench/binding_load.py): the timed phases spend the generator's CPU on
sockets only. A batch's reads are one EUMD's consecutive 15-minute intervals; the intervals of a round are
the same for every EUMD, so their text forms are made once per round (`Window`), not once per read.
"""

import asyncio
import dataclasses
import datetime as dt
import json
import random
import threading
import time
from collections.abc import Sequence

import psycopg

from bench import binding_load as load

INTERVAL_SECONDS = 900
DAY = 86_400
# Every home's PEV is plugged in and bound each night from 22:00Z to 06:00Z (bench/ingest.py loads the
# bindings): the reads starting 22:00 to 05:45 belong to the session, the others are premise energy.
SESSION_START = 22 * 3600
SESSION_SECONDS = 8 * 3600

# What the server stores per read (metering.models.PevRead), in the order of the COPY rows.
READ_COLUMNS = (
    "meter_id",
    "interval_start",
    "interval_seconds",
    "wh",
    "flags",
    "vin",
    "premise_id",
    "binding_id",
    "enrollment_id",
    "batch_id",
)
NULL = "\\N"  # COPY's text format for NULL


@dataclasses.dataclass(frozen=True)
class Home:
    """One premise's EUMD (with its private key), PEV and enrollment, and its nightly bound sessions."""

    eumd: load.PreSigner
    vin: str
    premise: int
    enrollment: int
    sessions: tuple[str, ...]  # binding ids, one a night from the data set's first night


@dataclasses.dataclass(frozen=True)
class Window:
    """`count` consecutive interval starts from `first` (epoch seconds), in the forms the two paths send,
    and which night's session (index into `Home.sessions`) each read falls in, if any."""

    first: int
    count: int
    json_times: list[str]
    copy_times: list[str]
    nights: list[int | None]

    @classmethod
    def of(cls, first: int, count: int, first_night: int, nights: int) -> "Window":
        starts = [first + n * INTERVAL_SECONDS for n in range(count)]
        moments = [dt.datetime.fromtimestamp(start, tz=dt.UTC) for start in starts]
        in_session = []
        for start in starts:
            night, offset = divmod(start - first_night, DAY)
            in_session.append(night if 0 <= night < nights and offset < SESSION_SECONDS else None)
        return cls(
            first,
            count,
            [moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in moments],
            [moment.strftime("%Y-%m-%d %H:%M:%S+00") for moment in moments],
            in_session,
        )

    @property
    def end(self) -> int:
        return self.first + self.count * INTERVAL_SECONDS


@dataclasses.dataclass(frozen=True)
class Batch:
    """One EUMD's reads over a window: the energy is ~1.5–2.5 kWh an interval while the PEV charges and a
    few Wh of standby now and then otherwise."""

    home: Home
    window: Window
    batch_id: str
    number: int  # the baseline's batch_id column (the server's is its ReadingBatch row)
    wh: list[int]

    @classmethod
    def of(cls, home: Home, window: Window, batch_id: str, number: int) -> "Batch":
        rng = random.Random(f"{home.vin}-{window.first}")
        wh = [
            rng.randint(1500, 2500)
            if night is not None
            else (rng.randint(1, 12) if rng.random() < 0.2 else 0)
            for night in window.nights
        ]
        return cls(home, window, batch_id, number, wh)

    @property
    def count(self) -> int:
        return len(self.wh)

    @property
    def attributed(self) -> int:
        return sum(night is not None for night in self.window.nights)

    def body(self) -> bytes:
        """The `POST /device/v1/readings` body."""
        vin = self.home.vin
        reads = ",".join(
            f'{{"pev_id":"{vin}","interval_start":"{moment}","interval_seconds":{INTERVAL_SECONDS},'
            f'"wh":{wh},"quality":"actual"}}'
            for moment, wh in zip(self.window.json_times, self.wh, strict=True)
        )
        return f'{{"batch_id":"{self.batch_id}","reads":[{reads}]}}'.encode()

    def copy_rows(self, meter: int) -> bytes:
        """The rows the server stores for this batch, in COPY's text format (columns READ_COLUMNS)."""
        home = self.home
        head = f"{meter}\t"
        tail = f"\t{INTERVAL_SECONDS}\t"
        fixed = f"\t0\t{home.vin}\t{home.premise}\t"
        unbound = f"{NULL}\t{NULL}\t{self.number}\n"
        lines = [
            head
            + moment
            + tail
            + str(wh)
            + fixed
            + (unbound if night is None else f"{home.sessions[night]}\t{home.enrollment}\t{self.number}\n")
            for moment, wh, night in zip(self.window.copy_times, self.wh, self.window.nights, strict=True)
        ]
        return "".join(lines).encode()


# --- HTTP -----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the batches go: the server's socket, and the public https:// address the device signs."""

    host: str
    port: int
    path: str

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"

    def request(self, signer: load.PreSigner, body: bytes, created: int) -> bytes:
        headers = {"X-Forwarded-Proto": "https", "Connection": "close"}
        headers.update(signer.sign("POST", f"https://{self.authority}{self.path}", body, created=created))
        return load.http_request("POST", self.path, self.authority, headers, body)


def _check_answer(status: int, body: bytes, count: int) -> str | None:
    if status != 200:
        return f"HTTP {status}: {body[:300].decode(errors='replace')}"
    answer = json.loads(body)
    got = (answer.get("accepted"), answer.get("duplicates"), answer.get("conflicts"), answer.get("rejected"))
    if got != (count, 0, 0, []):
        return f"not every read accepted once ({count} sent): {body[:300].decode(errors='replace')}"
    return None


async def send_batches(
    target: Target, batches: Sequence[tuple[load.PreSigner, bytes, int]], *, concurrency: int
) -> load.Outcome:
    """Send every (signer, body, reads) batch from `concurrency` clients, each sending its next batch as
    soon as the previous one is answered, on a new connection: the server's workers then share the batches
    as they come, as behind a proxy with many devices (a kept-alive connection stays with the worker that
    accepted it, so four of them may all load one worker — one core, its threads sharing the GIL).

    The body and its digest are made before the phase; the signature (one ECDSA signature) as the batch
    goes out, as the EUMD makes it: the server flags the reads of a batch signed more than a few seconds
    before it reads it (clock drift, NF.1), and refuses one signed outside its window.
    """
    outcome = load.Outcome(connections=len(batches))
    pending = iter(batches)
    cpu0, start = time.process_time(), time.perf_counter()

    async def worker() -> None:
        for signer, body, count in pending:
            sent = time.perf_counter()
            connection = await load.Connection.open(target.host, target.port)
            try:
                status, answer = await connection.send(target.request(signer, body, int(time.time())))
            finally:
                connection.close()
            outcome.latencies.append(time.perf_counter() - sent)
            outcome.answered += 1
            error = _check_answer(status, answer, count)
            if error:
                outcome.errors.append(error)
            else:
                outcome.done += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    outcome.seconds = time.perf_counter() - start
    outcome.cpu_seconds = time.process_time() - cpu0
    return outcome


# --- The COPY baseline ----------------------------------------------------------------------------------


class CopyLoader:
    """`concurrency` connections to the bench database, each with its own staging table; `run` loads each
    batch as a plain ingest path would: COPY into staging, INSERT … SELECT … ON CONFLICT DO NOTHING into
    the read table, commit."""

    def __init__(self, conninfo: str, table: str, concurrency: int):
        columns = ", ".join(READ_COLUMNS)
        self.copy = f"COPY bench_staging ({columns}) FROM STDIN"
        self.insert = (
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM bench_staging "  # noqa: S608 — constants
            "ON CONFLICT (meter_id, interval_start) DO NOTHING"
        )
        # Opened before the phase, so that their CPU is measured from the first batch to the last.
        self.connections = [psycopg.connect(conninfo) for _ in range(concurrency)]
        for connection in self.connections:
            connection.execute(f"CREATE TEMPORARY TABLE bench_staging (LIKE {table}) ON COMMIT DELETE ROWS")
            connection.commit()

    def run(self, batches: Sequence[tuple[bytes, int]]) -> load.Outcome:
        """Load every (rows, count) batch; a batch counts as done when it inserted all its rows."""
        outcome = load.Outcome(connections=len(self.connections))
        pending = iter(batches)
        lock = threading.Lock()

        def worker(connection: psycopg.Connection) -> None:
            with connection.cursor() as cursor:
                while True:
                    with lock:
                        item = next(pending, None)
                    if item is None:
                        return
                    rows, count = item
                    sent = time.perf_counter()
                    try:
                        with cursor.copy(self.copy) as copy:
                            copy.write(rows)
                        cursor.execute(self.insert)
                        inserted = cursor.rowcount
                        connection.commit()
                    except psycopg.Error as exc:
                        connection.rollback()
                        with lock:
                            outcome.errors.append(repr(exc))
                        continue
                    with lock:
                        outcome.latencies.append(time.perf_counter() - sent)
                        outcome.answered += 1
                        if inserted == count:
                            outcome.done += 1
                        else:
                            outcome.errors.append(f"inserted {inserted} of {count} rows")

        threads = [threading.Thread(target=worker, args=(c,)) for c in self.connections]
        cpu0, start = time.process_time(), time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        outcome.seconds = time.perf_counter() - start
        outcome.cpu_seconds = time.process_time() - cpu0
        return outcome

    def close(self) -> None:
        for connection in self.connections:
            connection.close()
