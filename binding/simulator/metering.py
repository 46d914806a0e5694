"""A session's metering as the field produces it: the EUMD's interval reads and the premise meter's file.

The EUMD meters the PEV alone (Req 20) and sends its reads, signed with its own key and relayed unchanged by
the ESCI, to `POST /device/v1/readings`. The premise's revenue meter sees the whole premise, PEV included
(BR.8), and reaches the utility as an AMI file (`import_ami`). Both come from one charging profile, so the
utility's correlation of the two (Req 15) has a true match to find — or, with the PEV's energy left out of
the premise file, a mismatch to flag.
"""

import csv
import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from binding.simulator.common import API, ConformanceError, SimulatorError, parse_timestamp, timestamp
from binding.simulator.contract import expect_equal, expect_fields, expect_json
from binding.simulator.server import BindingResult, Site

CHARGING_POWER_W = 7200  # a common Level 2 charger: 1800 Wh in a full 15-minute interval
TAPER_SECONDS = 1800  # the battery's constant-voltage phase: the power falls over the last half hour …
TAPERED_TO = 0.4  # … to 40 % at the unplug, so the premise load still steps down visibly then
PROFILE_STEP_SECONDS = 60
# The rest of the house — fridge, lights, an air conditioner — per 15 minutes: 400 Wh ± 150 over the day,
# ± 50 of noise, so 200 to 600 Wh.
BASE_LOAD_WH_PER_15_MINUTES = 400
BASE_LOAD_SWING = 150
BASE_LOAD_NOISE = 50
BASE_LOAD_PEAK_SECONDS = 2 * 3600
BATCH_READS = 500  # about 50 KB of JSON: far below the endpoint's limits (10,000 reads, 4 MiB) or a proxy's
AMI_HEADER = ["meter_id", "interval_start", "interval_seconds", "wh"]


@dataclass(frozen=True)
class IntervalRead:
    """The energy one meter measured in one interval."""

    interval_start: dt.datetime
    interval_seconds: int
    wh: int

    @property
    def interval_end(self) -> dt.datetime:
        return self.interval_start + dt.timedelta(seconds=self.interval_seconds)


@dataclass(frozen=True)
class BatchResult:
    """The server's answer to one batch of reads, checked against the contract."""

    batch_id: str
    sent: int
    accepted: int
    duplicates: int
    conflicts: int
    rejected: list[dict]
    replayed: bool


@dataclass
class MeteredSession:
    """A charging session and the reads its EUMD sent: those of the intervals that had ended (`pending`
    counts the intervals still running, whose reads a real EUMD sends later)."""

    binding: BindingResult
    ended: dict
    pev_id: str
    reads: list[IntervalRead]
    batches: list[BatchResult] = field(default_factory=list)
    pending: int = 0


def interval_floor(moment: dt.datetime, interval_seconds: int) -> dt.datetime:
    """The start of the interval `moment` falls in: intervals divide the hour, so they align to the epoch."""
    epoch = int(moment.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % interval_seconds, dt.UTC)


def eumd_settings(result: BindingResult) -> tuple[str, int]:
    """What the EUMD was told about the session: the PEV's VIN and the interval length, from its discovery
    (commissioning) or its confirmation (re-binding, guest)."""
    told = result.eumd_discovery or result.eumd_confirmation
    if told is None:
        raise SimulatorError(f"binding {result.binding_id} is {result.state}: the EUMD meters no session")
    return told["pev_id"], told["interval_seconds"]


def charging_reads(
    plugged_in_at: dt.datetime,
    unplugged_at: dt.datetime,
    interval_seconds: int,
    *,
    power_w: int = CHARGING_POWER_W,
) -> list[IntervalRead]:
    """The EUMD's reads of every interval that overlaps [plugged_in_at, unplugged_at): full power, then a
    taper to the end; an interval the PEV was plugged in for only in part holds only that part's energy."""
    taper = min(TAPER_SECONDS, (unplugged_at - plugged_in_at).total_seconds() / 3)
    step = dt.timedelta(seconds=interval_seconds)
    reads = []
    start = interval_floor(plugged_in_at, interval_seconds)
    while start < unplugged_at:
        joules = 0.0
        moment, end = max(start, plugged_in_at), min(start + step, unplugged_at)
        while moment < end:
            seconds = min(PROFILE_STEP_SECONDS, (end - moment).total_seconds())
            remaining = (unplugged_at - moment).total_seconds() - seconds / 2
            share = 1.0 if taper <= 0 else min(1.0, max(TAPERED_TO, remaining / taper))
            joules += power_w * share * seconds
            moment += dt.timedelta(seconds=seconds)
        reads.append(IntervalRead(start, interval_seconds, round(joules / 3600)))
        start += step
    return reads


def batch_id(eumd_lfdi: str, body_reads: list[dict]) -> str:
    """The same reads always travel under the same batch_id, so sending them again is a retry (the server
    answers as the first time) and never a 409; other reads — even from the same first interval — are
    another batch."""
    digest = hashlib.sha256(json.dumps(body_reads, separators=(",", ":")).encode()).hexdigest()
    first = body_reads[0]["interval_start"].replace("-", "").replace(":", "")
    return f"{eumd_lfdi[:16]}-{first}-{digest[:12]}"


def send_reads(
    site: Site, pev_id: str, reads: list[IntervalRead], *, batch_reads: int = BATCH_READS
) -> list[BatchResult]:
    """`POST /device/v1/readings` as the EUMD, `batch_reads` at a time; every answer is checked."""
    if batch_reads < 1:
        raise SimulatorError("a batch holds at least one read")
    results = []
    for offset in range(0, len(reads), batch_reads):
        body_reads = [
            {
                "pev_id": pev_id,
                "interval_start": timestamp(read.interval_start),
                "interval_seconds": read.interval_seconds,
                "wh": read.wh,
            }
            for read in reads[offset : offset + batch_reads]
        ]
        payload = {"batch_id": batch_id(site.eumd.lfdi, body_reads), "reads": body_reads}
        response = site.eumd_call("POST", f"{API}/readings", payload)
        body = expect_json(response, 200, "POST /device/v1/readings")
        results.append(
            _batch_result(body, payload, replayed=response.headers.get("Idempotent-Replayed") == "true")
        )
    return results


def _batch_result(body: dict, payload: dict, *, replayed: bool) -> BatchResult:
    """Every read of the batch is accounted for exactly once: accepted, a duplicate, a conflict or rejected
    (with its index and a reason)."""
    step = "POST /device/v1/readings"
    expect_fields(body, step, "batch_id", "accepted", "duplicates", "conflicts", "rejected")
    expect_equal(body, step, batch_id=payload["batch_id"])
    counts = {name: body[name] for name in ("accepted", "duplicates", "conflicts")}
    for name, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConformanceError(step, f"{name} {value!r} is not a count")
    rejected, sent = body["rejected"], len(payload["reads"])
    if not isinstance(rejected, list):
        raise ConformanceError(step, "rejected is not a list")
    for item in rejected:
        if not isinstance(item, dict) or not isinstance(item.get("reason"), str):
            raise ConformanceError(step, f"rejected entry {item!r} lacks a reason")
        index = item.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < sent:
            raise ConformanceError(step, f"rejected index {index!r} is not a read of the batch")
    if len({item["index"] for item in rejected}) != len(rejected):
        raise ConformanceError(step, "a read is rejected twice")
    if sum(counts.values()) + len(rejected) != sent:
        raise ConformanceError(
            step, f"{sent} reads sent, but {counts} and {len(rejected)} rejected do not add up to them"
        )
    return BatchResult(payload["batch_id"], sent, **counts, rejected=rejected, replayed=replayed)


def summary(batches: list[BatchResult]) -> str:
    """One line for a person: how many reads went in how many batches, and what became of them."""
    total = {
        name: sum(getattr(batch, name) for batch in batches)
        for name in ("sent", "accepted", "duplicates", "conflicts")
    }
    rejected = sum(len(batch.rejected) for batch in batches)
    return (
        f"{total['sent']} read(s) in {len(batches)} batch(es): {total['accepted']} accepted, "
        f"{total['duplicates']} duplicate(s), {total['conflicts']} conflict(s), {rejected} rejected"
    )


def premise_reads(
    meter_id: str, pev_reads: list[IntervalRead], *, now: dt.datetime, include_pev: bool = True
) -> list[IntervalRead]:
    """The premise meter's reads around a session: its base load, plus the PEV's energy (BR.8), from one
    interval before the PEV's first to one after its last — so the step at plug-in and unplug shows —
    for the intervals that have ended by `now`. `include_pev=False` is a meter that never saw the PEV."""
    if not pev_reads:
        return []
    seconds = pev_reads[0].interval_seconds
    step = dt.timedelta(seconds=seconds)
    pev_wh = {read.interval_start: read.wh for read in pev_reads} if include_pev else {}
    start, last = pev_reads[0].interval_start - step, pev_reads[-1].interval_start + step
    reads = []
    while start <= last and start + step <= now:
        wh = _base_load(meter_id, start, seconds) + pev_wh.get(start, 0)
        reads.append(IntervalRead(start, seconds, wh))
        start += step
    return reads


def _base_load(meter_id: str, interval_start: dt.datetime, interval_seconds: int) -> int:
    """The house without the PEV: a daily curve (highest in the early evening in California, 02:00 UTC) and
    a little noise, the same for a meter and interval on every run. It moves slowly from one interval to
    the next, as a house does, so the PEV's arrival and departure stand out."""
    seconds_of_day = (interval_start - interval_start.replace(hour=0, minute=0, second=0)).total_seconds()
    curve = BASE_LOAD_WH_PER_15_MINUTES + BASE_LOAD_SWING * math.cos(
        2 * math.pi * (seconds_of_day - BASE_LOAD_PEAK_SECONDS) / 86_400
    )
    seed = hashlib.sha256(f"{meter_id}|{timestamp(interval_start)}".encode()).digest()
    noise = int.from_bytes(seed[:2], "big") % (2 * BASE_LOAD_NOISE + 1) - BASE_LOAD_NOISE
    return round((curve + noise) * interval_seconds / 900)


def write_premise_file(path: Path | str, meter_id: str, reads: list[IntervalRead]) -> Path:
    """The AMI interval file `import_ami` reads: `meter_id,interval_start,interval_seconds,wh`, UTC."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(AMI_HEADER)
            for read in reads:
                writer.writerow([meter_id, timestamp(read.interval_start), read.interval_seconds, read.wh])
    except OSError as error:
        raise SimulatorError(f"cannot write the premise meter file {path}: {error}") from None
    return path


def session_window(session: BindingResult, ended: dict) -> tuple[dt.datetime, dt.datetime]:
    """[plugged_in_at, unplugged_at) of an ended session, as the server recorded it."""
    plugged_in_at = parse_timestamp(session.plugged_in_at)
    unplugged_at = parse_timestamp(ended.get("unplugged_at"))
    if plugged_in_at is None or unplugged_at is None:
        step = "POST /device/v1/bindings/{id}/end"
        raise ConformanceError(step, "unplugged_at is not YYYY-MM-DDTHH:MM:SSZ")
    return plugged_in_at, unplugged_at
