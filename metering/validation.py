"""Checking a readings batch read by read (VEE at the door; docs/metering.md "Validation").

A read that cannot be stored — malformed, misaligned, not yet ended, at the wrong length (Req 25) — is
rejected with its index and the reason; a read that can be stored but looks wrong is stored with a flag.

A batch is checked twice over only when it has a bad read: the fast path checks whole columns with numpy
(a well-formed batch of 10,000 reads in a few milliseconds) and, at the first sign of trouble, hands the
batch to the slow path, which walks it read by read to say exactly which reads are wrong and why. Both
paths give the same answer for a good batch (tests/metering/test_validation.py).
"""

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError

from binding.clock import parse_utc_second
from binding.models import Device
from enrollment.vin import validate_vin
from metering.models import Flag, Quality

READ_FIELDS = frozenset({"pev_id", "interval_start", "interval_seconds", "wh", "quality"})
QUALITIES = frozenset(Quality.values)
INTERVAL_LENGTHS = np.array([s for s in range(60, 3601) if 3600 % s == 0], dtype=np.int64)
WH_LIMIT = 2**31 - 1  # the column is a 32-bit integer
# A device clock ahead of ours by up to this much may still report an interval that has just ended.
FUTURE_SLACK_SECONDS = 5
# YYYY-MM-DDTHH:MM:SSZ: the separators' positions and characters, checked on the whole column at once.
_SEPARATOR_POSITIONS = [4, 7, 10, 13, 16, 19]
_SEPARATORS = np.array([ord(c) for c in "--T::Z"], dtype=np.uint32)
_DIGIT_POSITIONS = [n for n in range(19) if n not in _SEPARATOR_POSITIONS]


@dataclass
class Checked:
    """The reads that may be stored, column by column, and what happened to the others."""

    index: np.ndarray
    epoch: np.ndarray
    seconds: np.ndarray
    wh: np.ndarray
    flags: np.ndarray
    vins: list[str]
    starts: list[str]
    rejected: list[dict] = field(default_factory=list)
    duplicates: int = 0


@dataclass(frozen=True)
class _Rules:
    switch_epoch: int | None  # Req 25: from then on only `interval_seconds` is accepted
    interval_seconds: int | None
    max_wh_per_second: float
    base_flags: int
    latest_end: int
    earliest_start: int  # older reads are refused: a device clock reset to 1970 must not create partitions

    @classmethod
    def of(cls, eumd: Device, signed_at: dt.datetime | None, now: dt.datetime) -> "_Rules":
        switched = eumd.interval_seconds and eumd.interval_since
        drifted = (
            signed_at is not None
            and abs((signed_at - now).total_seconds()) > settings.METERING_CLOCK_DRIFT_SECONDS
        )
        return cls(
            switch_epoch=int(eumd.interval_since.timestamp()) if switched else None,
            interval_seconds=eumd.interval_seconds if switched else None,
            max_wh_per_second=eumd.max_power_w / 3600,
            base_flags=Flag.CLOCK_DRIFT if drifted else 0,
            latest_end=int(now.timestamp()) + FUTURE_SLACK_SECONDS,
            earliest_start=int(now.timestamp()) - settings.METERING_MAX_READ_AGE_DAYS * 86400,
        )


def check_reads(reads: list, *, eumd: Device, signed_at: dt.datetime | None, now: dt.datetime) -> Checked:
    """The storable reads of a batch (a list of dicts as parsed from JSON), flagged, and the rejected."""
    rules = _Rules.of(eumd, signed_at, now)
    return _fast(reads, rules) or _slow(reads, rules)


def _fast(reads: list, rules: _Rules) -> Checked | None:
    """Whole columns at once; None when any read needs a closer look."""
    if not all(type(read) is dict and READ_FIELDS.issuperset(read) for read in reads):
        return None
    try:
        vins = [read["pev_id"] for read in reads]
        starts = [read["interval_start"] for read in reads]
        lengths = [read["interval_seconds"] for read in reads]
        amounts = [read["wh"] for read in reads]
    except KeyError:
        return None
    qualities = {read.get("quality", Quality.ACTUAL) for read in reads}
    if (
        not qualities <= QUALITIES
        or not all(type(value) is int for value in lengths)
        or not all(type(value) is int for value in amounts)
        or not all(type(text) is str and len(text) == 20 for text in starts)
        or any(type(vin) is not str or _vin_problem(vin) for vin in set(vins))
    ):
        return None
    count = len(reads)
    characters = np.array(starts, dtype="U20").view(np.uint32).reshape(count, 20)
    digits = characters[:, _DIGIT_POSITIONS]
    if (
        not (characters[:, _SEPARATOR_POSITIONS] == _SEPARATORS).all()
        or not ((digits >= ord("0")) & (digits <= ord("9"))).all()
    ):
        return None
    try:
        epoch = np.array([text[:19] for text in starts], dtype="datetime64[s]").astype(np.int64)
        seconds = np.array(lengths, dtype=np.int64)
        wh = np.array(amounts, dtype=np.int64)
    except (ValueError, OverflowError):
        return None
    ends = epoch + seconds
    if (
        not np.isin(seconds, INTERVAL_LENGTHS).all()
        or (epoch % seconds).any()
        or (ends > rules.latest_end).any()
        or (epoch < rules.earliest_start).any()
        or (np.abs(wh) > WH_LIMIT).any()
        or _overlapping(epoch, ends)
    ):
        return None
    if (
        rules.switch_epoch is not None
        and ((ends > rules.switch_epoch) & (seconds != rules.interval_seconds)).any()
    ):
        return None
    flags = np.full(count, rules.base_flags, dtype=np.int64)
    flags |= np.where(wh < 0, Flag.NEGATIVE, 0)
    flags |= np.where((wh >= 0) & (wh > rules.max_wh_per_second * seconds), Flag.ABOVE_MAXIMUM, 0)
    if Quality.ESTIMATED in qualities:
        estimated = np.array([read.get("quality") == Quality.ESTIMATED for read in reads])
        flags |= np.where(estimated, Flag.ESTIMATED, 0)
    return Checked(np.arange(count), epoch, seconds, wh, flags, vins, starts)


def _slow(reads: list, rules: _Rules) -> Checked:
    """Read by read, with the reason for each rejected read."""
    kept: list[tuple] = []
    rejected: list[dict] = []
    duplicates = 0
    vin_problems: dict[str, str | None] = {}
    seen: dict[int, tuple] = {}
    for index, read in enumerate(reads):
        reason, row = _check_one(read, rules, vin_problems)
        if reason is None:
            epoch, seconds, wh, vin = row[1], row[2], row[3], row[5]
            earlier = seen.get(epoch)
            if earlier is None:
                seen[epoch] = (index, seconds, wh, vin)
                kept.append((index, *row[1:]))
                continue
            if earlier[1:] == (seconds, wh, vin):
                duplicates += 1
                continue
            reason = f"conflicts with read {earlier[0]} of this batch (same interval)"
        rejected.append({"index": index, "reason": reason})
    for row, earlier in _overlaps(kept):
        kept.remove(row)
        rejected.append(
            {"index": row[0], "reason": f"overlaps read {earlier} of this batch (another length)"}
        )
    columns = list(zip(*kept, strict=True)) if kept else [()] * 7
    index, epoch, seconds, wh, flags, vins, starts = columns
    return Checked(
        np.array(index, dtype=np.int64),
        np.array(epoch, dtype=np.int64),
        np.array(seconds, dtype=np.int64),
        np.array(wh, dtype=np.int64),
        np.array(flags, dtype=np.int64),
        list(vins),
        list(starts),
        rejected,
        duplicates,
    )


def _overlapping(starts: np.ndarray, ends: np.ndarray) -> bool:
    """Whether any two intervals overlap (equal starts included)."""
    order = np.argsort(starts, kind="stable")
    return bool((starts[order][1:] < ends[order][:-1]).any())


def _overlaps(kept: list[tuple]) -> list[tuple]:
    """(row, index of the read it overlaps) for each kept read that overlaps an earlier-starting one."""
    found = []
    reach, reach_index = None, None
    for row in sorted(kept, key=lambda r: (r[1], r[0])):
        index, epoch, seconds = row[0], row[1], row[2]
        if reach is not None and epoch < reach:
            found.append((row, reach_index))
            continue
        reach, reach_index = epoch + seconds, index
    return found


def _check_one(read, rules: _Rules, vin_problems: dict) -> tuple[str | None, tuple | None]:
    """(reason, None) for a read that cannot be stored, else (None, (_, epoch, seconds, wh, flags, vin,
    start text))."""
    if type(read) is not dict:
        return "a read must be an object", None
    if not READ_FIELDS.issuperset(read):
        return f"unknown field(s): {', '.join(sorted(set(read) - READ_FIELDS))}", None
    vin = read.get("pev_id")
    if type(vin) is not str:
        return "pev_id must be a VIN string", None
    if vin not in vin_problems:
        vin_problems[vin] = _vin_problem(vin)
    if vin_problems[vin]:
        return vin_problems[vin], None
    text = read.get("interval_start")
    try:
        epoch = int(parse_utc_second(text).timestamp())
    except ValueError:
        return "interval_start must be UTC to the second: YYYY-MM-DDTHH:MM:SSZ", None
    seconds = read.get("interval_seconds")
    if type(seconds) is not int or not 60 <= seconds <= 3600 or 3600 % seconds:
        return "interval_seconds must divide an hour (60 to 3600)", None
    if epoch % seconds:
        return f"interval_start is not aligned to {seconds} s intervals", None
    if epoch + seconds > rules.latest_end:
        return "the interval has not ended yet (future timestamp)", None
    if epoch < rules.earliest_start:
        return f"older than {settings.METERING_MAX_READ_AGE_DAYS} days: not accepted", None
    if (
        rules.switch_epoch is not None
        and epoch + seconds > rules.switch_epoch
        and seconds != rules.interval_seconds
    ):
        since = dt.datetime.fromtimestamp(rules.switch_epoch, dt.UTC)
        return (
            f"interval_seconds {seconds} is not the {rules.interval_seconds} s in force since "
            f"{since:%Y-%m-%dT%H:%M:%SZ} (Req 25)"
        ), None
    wh = read.get("wh")
    if type(wh) is not int or not -WH_LIMIT <= wh <= WH_LIMIT:
        return "wh must be an integer number of watt-hours", None
    quality = read.get("quality", Quality.ACTUAL)
    if quality not in QUALITIES:
        return f"quality must be one of {', '.join(Quality.values)}", None
    flags = rules.base_flags
    if wh < 0:
        flags |= Flag.NEGATIVE
    elif wh > rules.max_wh_per_second * seconds:
        flags |= Flag.ABOVE_MAXIMUM
    if quality == Quality.ESTIMATED:
        flags |= Flag.ESTIMATED
    return None, (None, epoch, seconds, wh, flags, vin, text)


def _vin_problem(vin: str) -> str | None:
    try:
        validate_vin(vin)
    except ValidationError as error:
        return f"pev_id: {error.messages[0]}"
    return None
