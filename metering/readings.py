"""EUMD reading batches: `POST /device/v1/readings` (Req 20, 22, 25; BR.6; docs/metering.md).

A batch is validated read by read (a bad read is reported by index and reason; the others are stored),
attributed to the bound sessions it overlaps, stored exactly once (`metering/storing.py`), added to the
rollups and recorded under its `batch_id` — all in one transaction, so a retried batch after a server
crash is either wholly new or a replay of the stored result, never half of each.

Attribution (issue 5): a read whose interval overlaps [plugged_in_at, end) of a binding of this EUMD that
reached `bound`, for the same PEV, belongs to that binding and its billed enrollment — the whole interval,
no proration. Every other read is premise energy at the default rate (BR.4, BR.6).
"""

import bisect
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from binding.clock import parse_utc_second
from binding.models import Binding, Device, max_duration
from enrollment.models import Enrollment, Premise
from enrollment.vin import validate_vin
from metering import correlation, partitions, rollups
from metering.models import Flag, Meter, MeterKind, PevRead, Quality, ReadingBatch
from metering.storing import Incoming, store

UTC = dt.UTC
BATCH_ID_MAX_LENGTH = 64
READ_FIELDS = frozenset({"pev_id", "interval_start", "interval_seconds", "wh", "quality"})
WH_LIMIT = 2**31 - 1  # the column is a 32-bit integer
# A device clock ahead of ours by up to this much may still report an interval that has just ended.
FUTURE_SLACK = dt.timedelta(seconds=5)
QUALITIES = frozenset(Quality.values)
PEV_COLUMNS = ("flags", "vin", "premise_id", "binding_id", "enrollment_id", "batch_id")


class InvalidBatch(Exception):
    """The batch as a whole is malformed (400); nothing was stored."""

    def __init__(self, detail: dict):
        super().__init__(detail)
        self.detail = detail


class BatchConflict(Exception):
    """The batch_id was already used for a different payload (409)."""


@dataclass(frozen=True)
class Batch:
    eumd: Device
    batch_id: str
    reads: list
    request_sha256: str
    relay: Device | None = None
    signed_at: dt.datetime | None = None


def receive(batch: Batch, *, now: dt.datetime) -> tuple[dict, bool]:
    """Store a batch once. Returns (result, replayed): the same batch_id and payload again gets the
    stored result; another payload under a used batch_id raises BatchConflict."""
    _check_shape(batch)
    meter = _meter_of(batch.eumd)
    stored = _stored_result(meter, batch)
    if stored is not None:
        return stored, True
    parsed = _Parsed.of(batch, now=now)
    if parsed.rows:
        # DDL outside the transaction: a partition created inside it would lock the parent table until commit.
        partitions.ensure_partitions(parsed.first, parsed.last)
    try:
        with transaction.atomic():
            Meter.objects.select_for_update().filter(pk=meter.pk).first()
            stored = _stored_result(meter, batch)
            if stored is not None:
                return stored, True
            return _store(meter, batch, parsed, now=now), False
    except IntegrityError:
        # The same batch raced in twice (one EUMD, two relays): the first committed it; answer as it did.
        stored = _stored_result(meter, batch)
        if stored is None:
            raise
        return stored, True


def _check_shape(batch: Batch) -> None:
    batch_id = batch.batch_id
    if (
        not isinstance(batch_id, str)
        or not 1 <= len(batch_id) <= BATCH_ID_MAX_LENGTH
        or not batch_id.isascii()
        or not batch_id.isprintable()
    ):
        raise InvalidBatch({"batch_id": f"1 to {BATCH_ID_MAX_LENGTH} printable ASCII characters."})
    limit = settings.METERING_MAX_BATCH_READS
    if not isinstance(batch.reads, list) or not 1 <= len(batch.reads) <= limit:
        raise InvalidBatch({"reads": f"a list of 1 to {limit} reads."})


def _meter_of(eumd: Device) -> Meter:
    meter = Meter.objects.filter(eumd=eumd).first()
    if meter is not None:
        return meter
    try:
        with transaction.atomic():
            return Meter.objects.create(kind=MeterKind.EUMD, eumd=eumd)
    except IntegrityError:
        return Meter.objects.get(eumd=eumd)


def _stored_result(meter: Meter, batch: Batch) -> dict | None:
    found = ReadingBatch.objects.filter(meter=meter, batch_id=batch.batch_id).first()
    if found is None:
        return None
    if found.request_sha256 != batch.request_sha256:
        raise BatchConflict(f"batch_id {batch.batch_id!r} was already used for a different payload.")
    return found.result


class _Parsed:
    """The batch's reads, checked one by one: the good ones as rows to store, the rest with reasons."""

    def __init__(self):
        self.rows: list[tuple] = []  # (index, start, seconds, wh, flags, vin)
        self.rejected: list[dict] = []
        self.duplicates = 0
        self.first = self.last = None

    @classmethod
    def of(cls, batch: Batch, *, now: dt.datetime) -> "_Parsed":
        parsed = cls()
        eumd = batch.eumd
        # Req 25: from the acknowledged switch on, only the new length is accepted.
        switch_at = eumd.interval_since if eumd.interval_seconds else None
        max_wh_per_second = eumd.max_power_w / 3600
        drift = (
            batch.signed_at is not None
            and abs((batch.signed_at - now).total_seconds()) > settings.METERING_CLOCK_DRIFT_SECONDS
        )
        base_flags = Flag.CLOCK_DRIFT if drift else 0
        latest_end = now + FUTURE_SLACK
        vins: dict[str, str | None] = {}
        seen: dict[dt.datetime, tuple] = {}
        reject = parsed._reject
        for index, read in enumerate(batch.reads):
            if type(read) is not dict:
                reject(index, "a read must be an object")
                continue
            if not READ_FIELDS.issuperset(read):
                reject(index, f"unknown field(s): {', '.join(sorted(set(read) - READ_FIELDS))}")
                continue
            vin = read.get("pev_id")
            problem = vins.get(vin) if isinstance(vin, str) else "pev_id must be a VIN string"
            if vin not in vins and isinstance(vin, str):
                problem = vins[vin] = _vin_problem(vin)
            if problem:
                reject(index, problem)
                continue
            start = _utc_second(read.get("interval_start"))
            if start is None:
                reject(index, "interval_start must be UTC to the second: YYYY-MM-DDTHH:MM:SSZ")
                continue
            seconds = read.get("interval_seconds")
            if type(seconds) is not int or not 60 <= seconds <= 3600 or 3600 % seconds:
                reject(index, "interval_seconds must divide an hour (60 to 3600)")
                continue
            epoch = int(start.timestamp())
            if epoch % seconds:
                reject(index, f"interval_start is not aligned to {seconds} s intervals")
                continue
            end = start + dt.timedelta(seconds=seconds)
            if end > latest_end:
                reject(index, "the interval has not ended yet (future timestamp)")
                continue
            if switch_at is not None and end > switch_at and seconds != eumd.interval_seconds:
                reject(
                    index,
                    f"interval_seconds {seconds} is not the {eumd.interval_seconds} s in force since "
                    f"{switch_at:%Y-%m-%dT%H:%M:%SZ} (Req 25)",
                )
                continue
            wh = read.get("wh")
            if type(wh) is not int or not -WH_LIMIT <= wh <= WH_LIMIT:
                reject(index, "wh must be an integer number of watt-hours")
                continue
            quality = read.get("quality", Quality.ACTUAL)
            if quality not in QUALITIES:
                reject(index, f"quality must be one of {', '.join(Quality.values)}")
                continue
            earlier = seen.get(start)
            if earlier is not None:
                if earlier[1:] == (seconds, wh, vin):
                    parsed.duplicates += 1
                else:
                    reject(index, f"conflicts with read {earlier[0]} of this batch (same interval)")
                continue
            seen[start] = (index, seconds, wh, vin)
            flags = base_flags
            if wh < 0:
                flags |= Flag.NEGATIVE
            elif wh > max_wh_per_second * seconds:
                flags |= Flag.ABOVE_MAXIMUM
            if quality == Quality.ESTIMATED:
                flags |= Flag.ESTIMATED
            parsed.rows.append((index, start, seconds, wh, flags, vin))
        if parsed.rows:
            parsed.first = min(row[1] for row in parsed.rows)
            parsed.last = max(row[1] for row in parsed.rows)
        return parsed

    def _reject(self, index: int, reason: str) -> None:
        self.rejected.append({"index": index, "reason": reason})


def _vin_problem(vin: str) -> str | None:
    try:
        validate_vin(vin)
    except ValidationError as error:
        return f"pev_id: {error.messages[0]}"
    return None


def _utc_second(text) -> dt.datetime | None:
    try:
        return parse_utc_second(text)
    except ValueError:
        return None


def _store(meter: Meter, batch: Batch, parsed: _Parsed, *, now: dt.datetime) -> dict:
    record = ReadingBatch.objects.create(
        meter=meter,
        batch_id=batch.batch_id,
        request_sha256=batch.request_sha256,
        result={},
        relay=batch.relay,
        received_at=now,
    )
    sessions = _Sessions.of(batch.eumd, parsed)
    home = _home_premise(batch) if parsed.rows else None
    incoming = []
    energies = []
    default_tariffs = _default_tariffs({home, *sessions.premise_ids} - {None})
    for index, start, seconds, wh, flags, vin in parsed.rows:
        binding = sessions.at(start, start + dt.timedelta(seconds=seconds))
        if binding is not None and binding.vin != vin:
            flags |= Flag.OTHER_PEV
            binding = None
        if binding is not None:
            premise_id, binding_id, enrollment_id = (
                binding.premise_id,
                binding.pk,
                binding.billed_enrollment_id,
            )
            tariff_id = binding.tariff_id
        elif home is None:
            parsed.rejected.append({"index": index, "reason": "the EUMD is at no premise and no session"})
            continue
        else:
            premise_id, binding_id, enrollment_id, tariff_id = home, None, None, default_tariffs[home]
        incoming.append(
            Incoming(
                index,
                meter.pk,
                start,
                seconds,
                wh,
                (flags, vin, premise_id, binding_id, enrollment_id, record.pk),
                vin,
            )
        )
        energies.append(rollups.Energy(premise_id, "pev", vin, enrollment_id, tariff_id, start, wh))
    stored = store(PevRead, incoming, columns=PEV_COLUMNS, received_at=now, source={"batch": record})
    accepted = {read.index for read in stored.accepted}
    if len(accepted) != len(energies):
        energies = [energy for read, energy in zip(incoming, energies, strict=True) if read.index in accepted]
    rollups.add(energies)
    sessions_read = {read.values[3] for read in stored.accepted if read.values[3]}
    if sessions_read:
        correlation.queue_correlation(sessions_read)
        correlation.enqueue_after_commit()
    record.result = {
        "batch_id": batch.batch_id,
        "accepted": len(stored.accepted),
        "duplicates": parsed.duplicates + stored.duplicates,
        "conflicts": stored.conflicts,
        "rejected": sorted(parsed.rejected, key=lambda r: r["index"]),
    }
    record.save(update_fields=["result"])
    return record.result


class _Sessions:
    """The bound sessions of one EUMD over a batch's span, found by bisection on plug-in time."""

    def __init__(self, bindings: Sequence):
        self.bindings = list(bindings)
        self.starts = [b.plugged_in_at for b in self.bindings]
        self.premise_ids = {b.premise_id for b in self.bindings}
        self.longest = max_duration()

    @classmethod
    def of(cls, eumd: Device, parsed: _Parsed) -> "_Sessions":
        if not parsed.rows:
            return cls([])
        longest = dt.timedelta(seconds=max(row[2] for row in parsed.rows))
        bindings = list(
            Binding.objects.filter(
                eumd=eumd,
                bound_at__isnull=False,
                plugged_in_at__lt=parsed.last + longest,
                plugged_in_at__gt=parsed.first - max_duration(),
            )
            .order_by("plugged_in_at")
            .only(
                "id",
                "vin",
                "premise_id",
                "billed_enrollment_id",
                "plugged_in_at",
                "unplugged_at",
                "finished_at",
            )
        )
        tariffs = rollups.plan_tariffs(b.pk for b in bindings)
        for binding in bindings:
            binding.tariff_id = tariffs[binding.pk]
            binding.session_end = (
                binding.unplugged_at or binding.finished_at or (binding.plugged_in_at + max_duration())
            )
        return cls(bindings)

    def at(self, start: dt.datetime, end: dt.datetime):
        """The session overlapping [start, end): the latest plugged in before `end` that ends after
        `start` (a session that ended inside the interval still overlaps it)."""
        position = bisect.bisect_left(self.starts, end) - 1
        while position >= 0:
            binding = self.bindings[position]
            if binding.session_end > start:
                return binding
            if binding.plugged_in_at + self.longest <= start:
                return None  # every earlier session ended sooner still
            position -= 1
        return None


def _home_premise(batch: Batch) -> int | None:
    """Where unbound energy is counted: the relaying ESCI's premise, else the EUMD's own, else (an EUMD in
    the PEV, not relayed through a known ESCI) the premise of the PEV's current enrollment."""
    if batch.relay is not None and batch.relay.premise_id:
        return batch.relay.premise_id
    if batch.eumd.premise_id:
        return batch.eumd.premise_id
    if batch.eumd.pev_id:
        return (
            Enrollment.objects.current()
            .filter(pev_id=batch.eumd.pev_id)
            .values_list("premise_id", flat=True)
            .first()
        )
    return None


def _default_tariffs(premise_ids: set) -> dict:
    return dict(Premise.objects.filter(pk__in=premise_ids).values_list("pk", "default_tariff_id"))
