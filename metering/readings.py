"""EUMD reading batches: `POST /device/v1/readings` (Req 20, 22, 25; BR.6; docs/metering.md).

A batch is validated read by read (a bad read is reported by index and reason; the others are stored),
attributed to the bound sessions it overlaps, stored exactly once (`metering/storing.py`), added to the
rollups and recorded under its `batch_id` — all in one transaction, so a retried batch after a server
crash is either wholly new or a replay of the stored result, never half of each.

Attribution (issue 5): a read whose interval overlaps [plugged_in_at, end) of a binding of this EUMD that
reached `bound`, for the same PEV, belongs to that binding and its billed enrollment — the whole interval,
no proration. Every other read is premise energy at the default rate (BR.4, BR.6).
"""

import datetime as dt
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction

from binding.models import Binding, Device, max_duration
from enrollment.models import Enrollment, Premise
from metering import correlation, partitions, rollups
from metering.models import Flag, Meter, MeterKind, PevRead, ReadingBatch, UsageSource
from metering.storing import Reads, store
from metering.validation import Checked, check_reads

BATCH_ID_MAX_LENGTH = 64


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
    checked = check_reads(batch.reads, eumd=batch.eumd, signed_at=batch.signed_at, now=now)
    if len(checked.index):
        # DDL outside the transaction: a partition created inside it would lock the parent table until commit.
        partitions.ensure_partitions(
            dt.datetime.fromtimestamp(int(checked.epoch.min()), dt.UTC),
            dt.datetime.fromtimestamp(int(checked.epoch.max()), dt.UTC),
        )
    try:
        with transaction.atomic():
            Meter.objects.select_for_update().filter(pk=meter.pk).first()
            stored = _stored_result(meter, batch)
            if stored is not None:
                return stored, True
            return _store(meter, batch, checked, now=now), False
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


def _store(meter: Meter, batch: Batch, checked: Checked, *, now: dt.datetime) -> dict:
    record = ReadingBatch.objects.create(
        meter=meter,
        batch_id=batch.batch_id,
        request_sha256=batch.request_sha256,
        result={},
        relay=batch.relay,
        received_at=now,
    )
    rejected = list(checked.rejected)
    accepted = duplicates = conflicts = 0
    if len(checked.index):
        attributed = _attributed(meter, batch, checked, record)
        rejected.extend(attributed.rejected)
        stored = store(PevRead, attributed.reads, received_at=now, source={"batch": record})
        accepted, duplicates, conflicts = len(stored.accepted), stored.duplicates, stored.conflicts
        rollups.add(attributed.rollup_groups(stored.accepted))
        sessions = attributed.sessions_of(stored.accepted)
        if sessions:
            correlation.queue_correlation(sessions)
            correlation.enqueue_after_commit()
    record.result = {
        "batch_id": batch.batch_id,
        "accepted": accepted,
        "duplicates": checked.duplicates + duplicates,
        "conflicts": conflicts,
        "rejected": sorted(rejected, key=lambda r: r["index"]),
    }
    record.save(update_fields=["result"])
    return record.result


@dataclass
class _Attributed:
    """The checked reads as PevRead rows, each with its owner: (premise, VIN, enrollment, tariff)."""

    reads: Reads
    owner: np.ndarray  # per read, an index into `owners`
    owners: list[tuple]
    rejected: list[dict]

    def rollup_groups(self, positions: np.ndarray) -> list:
        """The reads at `positions` grouped by owner, for rollups.add."""
        owner = self.owner[positions]
        epoch, wh = self.reads.epoch[positions], self.reads.wh[positions]
        groups = []
        for code in np.unique(owner).tolist():
            premise_id, vin, enrollment_id, tariff_id = self.owners[code]
            mine = owner == code
            groups.append(
                (
                    rollups.Owner(premise_id, UsageSource.PEV, tariff_id, vin, enrollment_id),
                    epoch[mine],
                    wh[mine],
                )
            )
        return groups

    def sessions_of(self, positions: np.ndarray) -> set:
        bindings = self.reads.values["binding_id"]
        return {bindings[i] for i in positions.tolist()} - {None}


def _attributed(meter: Meter, batch: Batch, checked: Checked, record: ReadingBatch) -> _Attributed:
    sessions = _Sessions.of(batch.eumd, checked)
    session = sessions.match(checked)
    other_pev = np.zeros(len(session), dtype=bool)
    for position in np.flatnonzero(session >= 0).tolist():
        other_pev[position] = checked.vins[position] != sessions.vins[session[position]]
    session[other_pev] = -1
    flags = checked.flags | np.where(other_pev, Flag.OTHER_PEV, 0)
    home = _home_premise(batch)
    rejected = []
    keep = np.arange(len(session))
    if home is None and (session < 0).any():
        # Premise energy with no premise to count it at: an EUMD in a PEV relayed by no known ESCI.
        rejected = [
            {"index": index, "reason": "the EUMD is at no premise and in no bound session"}
            for index in checked.index[session < 0].tolist()
        ]
        keep = np.flatnonzero(session >= 0)
    # Session numbers index these columns; -1 (no session) picks their last entry: the premise's own.
    premise = [*sessions.premise_ids, home]
    binding = [*sessions.binding_ids, None]
    enrollment = [*sessions.enrollment_ids, None]
    tariff = [*sessions.tariff_ids, _default_tariff(home)]
    numbers = session[keep].tolist()
    listed = keep.tolist()
    vins = [checked.vins[i] for i in listed]
    owners: dict[tuple, int] = {}
    owner = np.array(
        [
            owners.setdefault((premise[n], vin, enrollment[n], tariff[n]), len(owners))
            for n, vin in zip(numbers, vins, strict=True)
        ],
        dtype=np.int64,
    )
    reads = Reads(
        index=checked.index[keep],
        meter=np.full(len(listed), meter.pk, dtype=np.int64),
        epoch=checked.epoch[keep],
        seconds=checked.seconds[keep],
        wh=checked.wh[keep],
        starts=[checked.starts[i] for i in listed],
        values={
            "flags": flags[keep],
            "vin": vins,
            "premise_id": np.array([premise[n] for n in numbers], dtype=np.int64),
            "binding_id": [binding[n] for n in numbers],
            "enrollment_id": [enrollment[n] for n in numbers],
            "batch_id": np.full(len(listed), record.pk, dtype=np.int64),
        },
        vin=vins,
    )
    return _Attributed(reads, owner, list(owners), rejected)


class _Sessions:
    """The bound sessions of one EUMD over a batch's span, as arrays for matching whole columns of reads."""

    def __init__(self, bindings: list):
        self.starts = np.array([int(b.plugged_in_at.timestamp()) for b in bindings], dtype=np.int64)
        self.ends = np.array([int(b.session_end.timestamp()) for b in bindings], dtype=np.int64)
        self.vins = [b.vin for b in bindings]
        self.binding_ids = [str(b.pk) for b in bindings]
        self.premise_ids = [b.premise_id for b in bindings]
        self.enrollment_ids = [b.billed_enrollment_id for b in bindings]
        self.tariff_ids = [b.tariff_id for b in bindings]

    @classmethod
    def of(cls, eumd: Device, checked: Checked) -> "_Sessions":
        if not len(checked.index):
            return cls([])
        first = dt.datetime.fromtimestamp(int(checked.epoch.min()), dt.UTC)
        last_end = dt.datetime.fromtimestamp(int((checked.epoch + checked.seconds).max()), dt.UTC)
        bindings = list(
            Binding.objects.filter(
                eumd=eumd,
                bound_at__isnull=False,
                plugged_in_at__lt=last_end,
                plugged_in_at__gt=first - max_duration(),
            )
            .order_by("plugged_in_at")
            .only("vin", "premise_id", "billed_enrollment_id", "plugged_in_at", "unplugged_at", "finished_at")
        )
        tariffs = rollups.plan_tariffs(b.pk for b in bindings)
        for binding in bindings:
            binding.tariff_id = tariffs[binding.pk]
            binding.session_end = (
                binding.unplugged_at or binding.finished_at or (binding.plugged_in_at + max_duration())
            )
        return cls(bindings)

    def match(self, checked: Checked) -> np.ndarray:
        """Per read, the session its interval overlaps (-1 for none): the latest plugged in before the
        interval ends, if it ends after the interval starts — or the one before it, whose end may reach
        past a short session that started and ended inside it."""
        count = len(checked.index)
        if not len(self.starts):
            return np.full(count, -1, dtype=np.int64)
        begins, ends = checked.epoch, checked.epoch + checked.seconds
        latest = np.searchsorted(self.starts, ends, side="left") - 1
        session = np.full(count, -1, dtype=np.int64)
        for candidate in (latest, latest - 1):
            valid = candidate >= 0
            overlaps = valid & (self.ends[np.where(valid, candidate, 0)] > begins) & (session < 0)
            session[overlaps] = candidate[overlaps]
        return session


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


def _default_tariff(premise_id: int | None) -> int | None:
    if premise_id is None:
        return None
    return Premise.objects.filter(pk=premise_id).values_list("default_tariff_id", flat=True).first()
