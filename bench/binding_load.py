"""The load side of `make bench-binding`: pre-signed device requests and a small asyncio HTTP/1.1 client.

Nothing here imports Django: the timed phases spend the generator's CPU on sockets only.

`PreSigner` produces the same RFC 9421 headers as `binding.signing.DeviceSigner` (`ecdsa-p256-sha256`,
keyid = LFDI, covering `@method`, `@target-uri` and `content-digest` with a body, `created` and a nonce), but
with `created` chosen by the caller and without http-message-signatures' structured-field serialiser, which
costs ~0.5 ms a signature: 10,000 plug-ins sign in about a second instead of several.
`check_against_library` proves on a sample that the library verifies what it makes and formats it the same.

`Client` speaks just enough HTTP/1.1 for our own server: keep-alive connections, Content-Length or chunked
responses. Pre-built request bytes go out with one write; the response's status and body come back.
"""

import asyncio
import base64
import dataclasses
import hashlib
import json
import os
import random
import secrets
import time
from collections import deque
from collections.abc import Iterator, Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
SIGNATURE_LABEL = "sig"  # binding.signing.SIGNATURE_LABEL
ALGORITHM_ID = "ecdsa-p256-sha256"


def _raw_signature(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ECDSA_SHA256))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def pev_proof(key: ec.EllipticCurvePrivateKey, message: str) -> str:
    """A PEV signature in the JWS form (r‖s, base64url without padding), as binding/proofs.py checks it."""
    return base64.urlsafe_b64encode(_raw_signature(key, message.encode())).rstrip(b"=").decode()


@dataclasses.dataclass(frozen=True)
class PreSigner:
    """Signs requests for one device at a given `created` time, with a fresh nonce each."""

    lfdi: str
    key: ec.EllipticCurvePrivateKey

    def sign(
        self, method: str, url: str, body: bytes | None, *, created: int, nonce: str | None = None
    ) -> dict[str, str]:
        nonce = nonce or secrets.token_urlsafe(16)
        headers: dict[str, str] = {}
        components = ['"@method"', '"@target-uri"']
        lines = [f'"@method": {method.upper()}', f'"@target-uri": {url}']
        if body:
            digest = f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"
            headers["Content-Digest"] = digest
            components.append('"content-digest"')
            lines.append(f'"content-digest": {digest}')
        params = (
            f'({" ".join(components)});created={created};keyid="{self.lfdi}";'
            f'alg="{ALGORITHM_ID}";nonce="{nonce}"'
        )
        lines.append(f'"@signature-params": {params}')
        signature = base64.b64encode(_raw_signature(self.key, "\n".join(lines).encode())).decode()
        headers["Signature-Input"] = f"{SIGNATURE_LABEL}={params}"
        headers["Signature"] = f"{SIGNATURE_LABEL}=:{signature}:"
        return headers


def check_against_library(signer: PreSigner, url: str) -> None:
    """PreSigner's headers are DeviceSigner's: same fields, and the library verifies them (raises if not)."""
    import datetime as dt

    from http_message_signatures import HTTPMessageVerifier, algorithms
    from http_message_signatures.resolvers import HTTPSignatureKeyResolver
    from http_message_signatures.structures import CaseInsensitiveDict

    from binding.signing import DeviceSigner

    class Key(HTTPSignatureKeyResolver):
        def resolve_public_key(self, key_id):
            return signer.key.public_key()

    @dataclasses.dataclass
    class Message:
        method: str
        url: str
        headers: CaseInsensitiveDict

    for method, body in (("GET", None), ("POST", b'{"pev_id":"X"}')):
        reference = DeviceSigner(signer.lfdi, signer.key).sign(method, url, body)
        created = int(reference["Signature-Input"].split("created=")[1].split(";")[0])
        nonce = reference["Signature-Input"].split('nonce="')[1].split('"')[0]
        ours = signer.sign(method, url, body, created=created, nonce=nonce)
        for name in ("Signature-Input", "Content-Digest"):
            if reference.get(name) != ours.get(name):
                raise RuntimeError(
                    f"PreSigner's {name} differs: {ours.get(name)!r} != {reference.get(name)!r}"
                )
        verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ECDSA_P256_SHA256, key_resolver=Key())
        verifier.max_clock_skew = dt.timedelta(days=1)
        verifier.verify(Message(method, url, CaseInsensitiveDict(ours)), max_age=None)


def http_request(
    method: str, path: str, host: str, headers: dict[str, str], body: bytes | None = None
) -> bytes:
    """One HTTP/1.1 request, ready to write."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


# --- The client -----------------------------------------------------------------------------------------


class ClosedIdle(ConnectionError):
    """The server had closed this kept-alive connection before the request reached it."""


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer)

    async def send(self, data: bytes) -> tuple[int, bytes]:
        self.writer.write(data)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise ClosedIdle("the server closed the idle connection") from None
            raise
        status = int(head[9:12])
        length, chunked = None, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            body = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                body += await self.reader.readexactly(size + 2)
                del body[-2:]
            return status, bytes(body)
        return status, await self.reader.readexactly(length or 0)

    def close(self) -> None:
        self.writer.close()


@dataclasses.dataclass
class Outcome:
    """What a phase saw: expected answers (`done`), all answers, latencies (s) and the unexpected ones."""

    done: int = 0
    answered: int = 0
    seconds: float = 0.0
    latencies: list[float] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    cpu_seconds: float = 0.0
    connections: int = 0

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    @property
    def cpu_percent(self) -> float:
        return 100 * self.cpu_seconds / self.seconds if self.seconds else 0.0


def _cpu() -> float:
    return time.process_time()


def _check(expect: int, state: bytes | None, status: int, body: bytes) -> str | None:
    if status != expect:
        return f"HTTP {status}: {body[:300].decode(errors='replace')}"
    if state is not None:
        got = json.loads(body).get("state")
        if got != state.decode():
            return f"state {got!r}: {body[:300].decode(errors='replace')}"
    return None


async def closed_loop(
    host: str,
    port: int,
    requests: Sequence[bytes],
    *,
    concurrency: int,
    seconds: float,
    expect: int,
    state: bytes | None = None,
    kept: Sequence["Connection"] = (),
) -> Outcome:
    """`concurrency` connections, each sending its next request as soon as the previous one is answered,
    for `seconds` or until the pre-signed requests run out. `kept`: connections of the caller's (on the
    same event loop) to send on instead, left open."""
    outcome = Outcome(connections=len(kept) or concurrency)
    pending: Iterator[bytes] = iter(requests)
    connections = list(kept) or [await Connection.open(host, port) for _ in range(concurrency)]
    cpu0, start = _cpu(), time.perf_counter()
    deadline = start + seconds

    async def worker(connection: Connection) -> None:
        for data in pending:
            sent = time.perf_counter()
            if sent >= deadline:
                return
            status, body = await connection.send(data)
            outcome.latencies.append(time.perf_counter() - sent)
            outcome.answered += 1
            error = _check(expect, state, status, body)
            if error:
                outcome.errors.append(error)
            else:
                outcome.done += 1

    await asyncio.gather(*(worker(c) for c in connections))
    outcome.seconds = time.perf_counter() - start
    outcome.cpu_seconds = _cpu() - cpu0
    if not kept:
        for connection in connections:
            connection.close()
    return outcome


def arrivals(count: int, seconds: float, kind: str, seed: int = 9421) -> list[float]:
    """Offsets (s) of `count` arrivals within `seconds`: uniform spacing, or a Poisson process's (exponential
    gaps, scaled so the last one lands at the end of the window)."""
    if kind == "uniform":
        return [seconds * n / count for n in range(count)]
    rng = random.Random(seed)
    offsets, at = [], 0.0
    for _ in range(count):
        at += rng.expovariate(1.0)
        offsets.append(at)
    scale = seconds / offsets[-1]
    return [offset * scale for offset in offsets]


async def open_loop(
    host: str,
    port: int,
    requests: Sequence[tuple[float, bytes]],
    *,
    start: float,
    max_connections: int,
    expect: int,
    state: bytes | None = None,
) -> Outcome:
    """Send each request at `start` + its offset (time.time() clock) whatever the server's pace, over a pool
    of keep-alive connections (at most `max_connections`, like a proxy's upstream pool). Latency is from the
    scheduled moment to the end of the response, so a late send counts against the server."""
    outcome = Outcome()
    idle: deque[Connection] = deque()
    opened = 0
    slots = asyncio.Semaphore(max_connections)
    tasks = []

    async def one(scheduled: float, data: bytes) -> None:
        nonlocal opened
        async with slots:
            reused = bool(idle)
            if reused:
                connection = idle.pop()
            else:
                opened += 1
                connection = await Connection.open(host, port)
            try:
                try:
                    status, body = await connection.send(data)
                except ClosedIdle:
                    if not reused:
                        raise
                    # As a proxy does: the request never reached the server, so it goes on a new connection
                    # (a plug-in is idempotent anyway: the same ESCI, PEV and time is the same binding).
                    connection.close()
                    opened += 1
                    connection = await Connection.open(host, port)
                    status, body = await connection.send(data)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                outcome.errors.append(repr(exc))
                connection.close()
                return
            outcome.latencies.append(time.time() - scheduled)
            outcome.answered += 1
            idle.append(connection)
        error = _check(expect, state, status, body)
        if error:
            outcome.errors.append(error)
        else:
            outcome.done += 1

    cpu0 = _cpu()
    for offset, data in requests:
        scheduled = start + offset
        delay = scheduled - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(scheduled, data)))
    await asyncio.gather(*tasks)
    outcome.seconds = time.time() - start
    outcome.cpu_seconds = _cpu() - cpu0
    outcome.connections = opened
    for connection in idle:
        connection.close()
    return outcome


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


# --- CPU of other processes (/proc) --------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """`root` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def postgres_pids(database: str) -> list[int]:
    """The PostgreSQL backends serving `database` (their title names it), and the WAL writer; not the
    backends of other databases, which other work on a shared machine keeps busy."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    title = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres:") and (
                f" {database} " in title or title.rstrip().endswith("walwriter")
            ):
                found.append(int(entry))
    return found


def cpu_by_pid(pids: Sequence[int]) -> dict[int, float]:
    """User + system CPU seconds of each process still running."""
    found = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / _TICKS
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots; a process started meanwhile counts from zero."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
