"""Load correlation (Req 15): is a bound session's PEV energy explained by its premise's revenue meter?

The EUMD is a submeter of the revenue meter (BR.8), so in every interval the premise meter must have seen at
least the PEV's energy, and plugging in and unplugging should show as a step in the premise load. Each bound
session gets one `LoadCorrelation`: `pass`, `warn` or `fail` with its evidence, or `pending` while the
premise data is not complete. Billing treats a `fail` at the premise default rate until a CSR clears it.

Work is queued as `CorrelationDue` rows, written in the transaction that made a session due (new reads, an
AMI import, an applied revision); a worker drains them (`correlate_due`), nudged after commit and swept by
beat every minute, so neither a Redis outage nor a dead worker loses a session.

Comparing intervals: PEV and premise reads may have different lengths (5-minute EUMD reads, 15-minute AMI
reads, or the other way round). Both are aligned to their length, so overlapping reads chain into *spans*,
the shortest stretches that both meters cover with whole reads (one 15-minute premise read and its three
5-minute PEV reads; one PEV hour and its four premise quarters). Energy is compared per span.
"""

import datetime as dt
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from binding.models import Binding, max_duration
from metering.models import CorrelationDue, LoadCorrelation, Meter, MeterKind, PevRead, PremiseRead
from pevportal.audit import record
from pevportal.models import Channel

log = structlog.get_logger(__name__)

Result = LoadCorrelation.Result

# Premise data may arrive days after the session (AMI head-ends deliver daily, sometimes late): until then an
# incomplete comparison is `pending`, afterwards a `warn`.
PREMISE_DATA_GRACE = dt.timedelta(days=3)
# The longest interval either meter uses (plans' EUMD intervals and AMI intervals divide the hour): how far
# before the session a read overlapping the plug-in can start, and the widest span a step is measured over.
MAX_INTERVAL = dt.timedelta(hours=1)
# Exceeding intervals kept in the evidence; the count is always complete.
EXCEEDING_SHOWN = 20
# Sessions correlated per task run; a full run asks for another one at once.
DUE_BATCH = 500
# Sessions locked and correlated per transaction: one sort of the queue for several sessions, and a
# transaction still short (a few queries per session).
LOCK_BATCH = 20

UTC = dt.UTC


# --- Queueing ---------------------------------------------------------------------------------------


def queue_correlation(binding_ids: Iterable) -> int:
    """Mark sessions due for (re)correlation, in one statement; call inside the transaction that made them
    due. Returns how many were queued.

    An already queued session gets a new `queued_at` rather than being ignored: if a worker is correlating it
    right now (its row locked, the new reads not visible to it), the upsert waits for that worker to delete
    the row and then inserts it again, so the new reads are correlated too. Ignoring the conflict would lose
    them.
    """
    ids = sorted({str(binding_id) for binding_id in binding_ids})
    if not ids:
        return 0
    now = timezone.now()
    # Sorted ids: two writers queueing overlapping sets lock the rows in the same order (no deadlock).
    CorrelationDue.objects.bulk_create(
        [CorrelationDue(binding_id=binding_id, queued_at=now) for binding_id in ids],
        update_conflicts=True,
        unique_fields=["binding"],
        update_fields=["queued_at"],
        batch_size=1000,
    )
    return len(ids)


def bindings_overlapping(premise_ids: Iterable[int], first: dt.datetime, last: dt.datetime) -> QuerySet:
    """Ids of the bound sessions at these premises whose window overlaps [first, last) — what an AMI import
    of that range must queue (`queue_correlation(bindings_overlapping(...))`)."""
    ends_after_first = (
        Q(unplugged_at__gt=first)
        | Q(unplugged_at__isnull=True, finished_at__gt=first)
        | Q(unplugged_at__isnull=True, finished_at__isnull=True, plugged_in_at__gt=first - max_duration())
    )
    return (
        Binding.objects.filter(
            premise_id__in=list(premise_ids), bound_at__isnull=False, plugged_in_at__lt=last
        )
        .filter(ends_after_first)
        .values_list("pk", flat=True)
    )


def enqueue_after_commit() -> None:
    """Ask a worker to drain the queue once the current transaction commits (the rows are then visible)."""
    transaction.on_commit(send_correlation_task)


def send_correlation_task() -> None:
    """Send `correlate_due_sessions` now. A broker outage is logged, not raised: the queued rows are in the
    database and the beat sweep (or a later nudge) picks them up."""
    from metering import tasks

    try:
        # No publish retries: a request that stored reads must not wait for a broker that is down.
        tasks.correlate_due_sessions.apply_async(retry=False)
    except (BrokerError, OSError) as exc:
        log.warning("metering.correlation_enqueue_failed", error=str(exc))


# --- Draining the queue ------------------------------------------------------------------------------


def correlate_due(limit: int = DUE_BATCH, *, now: dt.datetime) -> int:
    """Correlate up to `limit` queued sessions, oldest first; returns how many were correlated.

    Short transactions of LOCK_BATCH sessions: lock their queue rows (skipping rows other workers hold),
    correlate each, save the results, delete those rows. A worker killed half-way rolls back, and the rows
    are still there for the next run. A session whose correlation raises is logged and left queued; the run
    goes on with the others.
    """
    done = 0
    failed: list = []
    while done + len(failed) < limit:
        with transaction.atomic():
            batch = list(
                CorrelationDue.objects.select_for_update(skip_locked=True)
                .exclude(binding_id__in=failed)
                .order_by("queued_at", "binding_id")
                .values_list("binding_id", flat=True)[: min(LOCK_BATCH, limit - done - len(failed))]
            )
            if not batch:
                break
            correlated = []
            for binding_id in batch:
                try:
                    with transaction.atomic():
                        correlate(binding_id, now=now)
                except Exception:
                    log.exception("metering.correlation_failed", binding=str(binding_id))
                    failed.append(binding_id)
                else:
                    correlated.append(binding_id)
            CorrelationDue.objects.filter(binding_id__in=correlated).delete()
            done += len(correlated)
    return done


# --- Correlating one session -------------------------------------------------------------------------


def session_window(binding: Binding) -> tuple[dt.datetime, dt.datetime]:
    """[plugged_in_at, end) of a session: end is the unplug, else when it left a live state, else the
    longest a session may last (BINDING_MAX_DURATION_HOURS)."""
    end = binding.unplugged_at or binding.finished_at or binding.plugged_in_at + max_duration()
    return binding.plugged_in_at, end


def correlate(binding_id, *, now: dt.datetime) -> LoadCorrelation | None:
    """Compute and store the correlation of one session; None for a binding that never reached `bound`
    (its energy is premise energy anyway). Four queries to read, two or three to store.

    A CSR's clearance of a fail stands through recomputation unless the result becomes a *different* fail
    (other intervals or values exceeding; e.g. after a revision was applied): that is new evidence the CSR
    has not seen, so the clearance is withdrawn and the withdrawal audited.
    """
    binding = (
        Binding.objects.filter(pk=binding_id, bound_at__isnull=False)
        .only("pk", "premise_id", "eumd_id", "plugged_in_at", "unplugged_at", "finished_at", "bound_at")
        .first()
    )
    if binding is None:
        return None
    start, end = session_window(binding)
    meters = dict(
        Meter.objects.filter(
            Q(kind=MeterKind.EUMD, eumd_id=binding.eumd_id)
            | Q(kind=MeterKind.PREMISE, premise_id=binding.premise_id)
        ).values_list("kind", "id")
    )
    pev = _pev_reads(meters.get(MeterKind.EUMD), binding.pk, start, end)
    premise: list[Read] = []
    if pev:
        first = min(start, _at(pev[0].start)) - MAX_INTERVAL
        last = max(end, _at(pev[-1].end)) + MAX_INTERVAL
        premise = _premise_reads(meters.get(MeterKind.PREMISE), first, last)
    result, evidence = assess(pev, premise, window=(start, end), now=now)
    return _store(binding.pk, result, evidence, now)


@dataclass(frozen=True, slots=True)
class Read:
    """One interval read as correlation sees it."""

    start: int  # UTC epoch seconds
    seconds: int
    wh: int

    @property
    def end(self) -> int:
        return self.start + self.seconds


def _pev_reads(meter_id, binding_id, start: dt.datetime, end: dt.datetime) -> list[Read]:
    if meter_id is None:
        return []
    # By the meter's key range (the partitions' only index); the binding picks this session's reads.
    rows = (
        PevRead.objects.filter(
            meter_id=meter_id,
            interval_start__gte=start - MAX_INTERVAL,
            interval_start__lt=end,
            binding_id=binding_id,
        )
        .order_by("interval_start")
        .values_list("interval_start", "interval_seconds", "wh")
    )
    return [Read(_epoch(at), seconds, wh) for at, seconds, wh in rows]


def _premise_reads(meter_id, first: dt.datetime, last: dt.datetime) -> list[Read]:
    if meter_id is None:
        return []
    rows = (
        PremiseRead.objects.filter(meter_id=meter_id, interval_start__gte=first, interval_start__lt=last)
        .order_by("interval_start")
        .values_list("interval_start", "interval_seconds", "wh")
    )
    return [Read(_epoch(at), seconds, wh) for at, seconds, wh in rows]


@dataclass(slots=True)
class _Span:
    start: int
    end: int
    pev_reads: int = 0
    pev_wh: int = 0
    premise_seconds: int = 0
    premise_wh: int = 0

    @property
    def covered(self) -> bool:
        """Whether premise reads cover the whole span (then its energies compare)."""
        return self.premise_seconds >= self.end - self.start


@dataclass(frozen=True)
class Tolerance:
    """The correlation settings in force, recorded in each result's evidence."""

    wh: int
    percent: int
    step_percent: int

    @classmethod
    def from_settings(cls) -> "Tolerance":
        return cls(
            wh=settings.METERING_CORRELATION_TOLERANCE_WH,
            percent=settings.METERING_CORRELATION_TOLERANCE_PERCENT,
            step_percent=settings.METERING_CORRELATION_STEP_PERCENT,
        )

    def exceeds(self, pev_wh: int, premise_wh: int) -> bool:
        return pev_wh > premise_wh + max(self.wh, premise_wh * self.percent / 100)

    def visible_step(self, step_wh: int, pev_wh: int) -> bool:
        return step_wh >= pev_wh * self.step_percent / 100


def assess(
    pev: Sequence[Read],
    premise: Sequence[Read],
    *,
    window: tuple[dt.datetime, dt.datetime],
    now: dt.datetime,
    tolerance: Tolerance | None = None,
) -> tuple[str, dict]:
    """The result and its evidence for a session's PEV reads against its premise's reads (sorted by start).

    `fail`: in some span the PEV used more than the premise meter saw, beyond the tolerance — final whatever
    else is missing, since more premise data does not change a span already compared. `pending`: premise
    data for the window (or the PEV reads) not complete yet, and the session ended less than
    PREMISE_DATA_GRACE ago. `warn`: no visible step where charging starts or stops, gaps in the PEV reads,
    or data still incomplete after the grace period. `pass` otherwise.

    The steps are measured at the first and last span in which the PEV drew energy, not at plug-in: a PEV
    that waits for off-peak prices plugs in hours before it charges.
    """
    tolerance = tolerance or Tolerance.from_settings()
    window_start, window_end = (_epoch(t) for t in window)
    spans = [span for span in _spans(pev, premise) if span.pev_reads]
    compared = [span for span in spans if span.covered]
    exceeding = [span for span in compared if tolerance.exceeds(span.pev_wh, span.premise_wh)]

    needed = [(window_start, window_end), *((r.start, r.end) for r in pev)]
    start_step = stop_step = None
    charging = [span for span in spans if span.pev_wh > 0]
    if charging:
        first, last = charging[0], charging[-1]
        before = (first.start - (first.end - first.start), first.start)
        after = (last.end, last.end + (last.end - last.start))
        needed += [before, after]
        start_step = _step(first, before, premise)
        stop_step = _step(last, after, premise)
    missing = _missing_premise_intervals(needed, premise, pev)
    gaps = _pev_gaps(pev)

    warnings = []
    if not pev:
        warnings.append("no_pev_reads")
    if missing:
        warnings.append("premise_incomplete")
    if start_step is not None and not tolerance.visible_step(start_step, charging[0].pev_wh):
        warnings.append("no_start_step")
    if stop_step is not None and not tolerance.visible_step(stop_step, charging[-1].pev_wh):
        warnings.append("no_stop_step")
    if gaps:
        warnings.append("pev_gaps")

    recent = _epoch(now) < window_end + PREMISE_DATA_GRACE.total_seconds()
    if exceeding:
        result = Result.FAIL
    elif (missing or not pev) and recent:
        result = Result.PENDING
    elif warnings:
        result = Result.WARN
    else:
        result = Result.PASS
    evidence = {
        "window": {"start": _iso(window_start), "end": _iso(window_end)},
        "intervals": len(compared),
        "exceeding": [
            {
                "interval_start": _iso(span.start),
                "interval_seconds": span.end - span.start,
                "pev_wh": span.pev_wh,
                "premise_wh": span.premise_wh,
                "excess_wh": span.pev_wh - span.premise_wh,
            }
            for span in exceeding[:EXCEEDING_SHOWN]
        ],
        "exceeding_count": len(exceeding),
        "missing_premise_intervals": missing,
        "pev_gaps": gaps,
        "start_step_wh": start_step,
        "stop_step_wh": stop_step,
        "pev_wh_total": sum(r.wh for r in pev),
        "premise_wh_total": sum(span.premise_wh for span in compared),
        "warnings": warnings,
        "tolerance": {
            "wh": tolerance.wh,
            "percent": tolerance.percent,
            "step_percent": tolerance.step_percent,
        },
    }
    return result, evidence


def _spans(pev: Sequence[Read], premise: Sequence[Read]) -> list[_Span]:
    """Chain overlapping reads of both meters into spans (module docstring), in order."""
    tagged = sorted([(r, True) for r in pev] + [(r, False) for r in premise], key=lambda item: item[0].start)
    spans: list[_Span] = []
    for read, is_pev in tagged:
        if not spans or read.start >= spans[-1].end:
            spans.append(_Span(read.start, read.end))
        span = spans[-1]
        span.end = max(span.end, read.end)
        if is_pev:
            span.pev_reads += 1
            span.pev_wh += read.wh
        else:
            span.premise_seconds += read.seconds
            span.premise_wh += read.wh
    return spans


def _step(span: _Span, neighbour: tuple[int, int], premise: Sequence[Read]) -> int | None:
    """How much more the premise used in `span` than in the equally long `neighbour` stretch; None when the
    premise reads do not cover both."""
    inside = [r for r in premise if neighbour[0] <= r.start and r.end <= neighbour[1]]
    if not span.covered or sum(r.seconds for r in inside) < neighbour[1] - neighbour[0]:
        return None
    return span.premise_wh - sum(r.wh for r in inside)


def _missing_premise_intervals(
    needed: Iterable[tuple[int, int]], premise: Sequence[Read], pev: Sequence[Read]
) -> int:
    """Premise intervals (of the premise meter's usual length; the PEV's if it sent none) that overlap the
    needed stretches and are not entirely covered by premise reads."""
    lengths = Counter(r.seconds for r in premise) or Counter(r.seconds for r in pev)
    if not lengths:
        return 0
    step = lengths.most_common(1)[0][0]
    slots: set[int] = set()
    for start, end in needed:
        slots.update(range(start - start % step, end, step))
    covered: dict[int, int] = defaultdict(int)
    for read in premise:
        for slot in range(read.start - read.start % step, read.end, step):
            covered[slot] += min(read.end, slot + step) - max(read.start, slot)
    return sum(1 for slot in slots if covered[slot] < step)


def _pev_gaps(pev: Sequence[Read]) -> int:
    """Intervals missing between the session's first and last PEV read."""
    return sum(
        (later.start - earlier.end) // earlier.seconds
        for earlier, later in itertools.pairwise(pev)
        if later.start > earlier.end
    )


def _store(binding_id, result: str, evidence: dict, now: dt.datetime) -> LoadCorrelation:
    with transaction.atomic():
        # Locked: a CSR clearing this fail at the same moment must see the recomputed row, or this
        # recomputation the clearance.
        correlation = LoadCorrelation.objects.select_for_update().filter(binding_id=binding_id).first()
        if correlation is None:
            try:
                # A savepoint: two workers correlating the same new session meet the one-to-one key.
                with transaction.atomic():
                    return LoadCorrelation.objects.create(
                        binding_id=binding_id, result=result, evidence=evidence, checked_at=now
                    )
            except IntegrityError:
                correlation = LoadCorrelation.objects.select_for_update().get(binding_id=binding_id)
        if correlation.cleared_at is not None and result == Result.FAIL and _new_fail(correlation, evidence):
            _withdraw_clearance(correlation, evidence)
        correlation.result, correlation.evidence, correlation.checked_at = result, evidence, now
        correlation.save()
    return correlation


def _new_fail(correlation: LoadCorrelation, evidence: dict) -> bool:
    if correlation.result != Result.FAIL:
        return True
    return _fail_signature(correlation.evidence) != _fail_signature(evidence)


def _fail_signature(evidence: dict) -> tuple:
    return (
        evidence.get("exceeding_count"),
        [(e["interval_start"], e["pev_wh"], e["premise_wh"]) for e in evidence.get("exceeding", [])],
    )


def _withdraw_clearance(correlation: LoadCorrelation, evidence: dict) -> None:
    before = {
        "result": correlation.result,
        "cleared_by": correlation.cleared_by_id,
        "cleared_at": correlation.cleared_at.isoformat(),
        "clear_note": correlation.clear_note,
        "exceeding": correlation.evidence.get("exceeding", []),
    }
    correlation.cleared_by = None
    correlation.cleared_at = None
    correlation.clear_note = ""
    record(
        action="load_correlation.clearance_withdrawn",
        target=correlation,
        channel=Channel.SYSTEM,
        actor_label="correlate",
        before=before,
        after={"result": Result.FAIL, "exceeding": evidence["exceeding"]},
    )


def _epoch(instant: dt.datetime) -> int:
    return int(instant.timestamp())


def _at(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, UTC)


def _iso(epoch: int) -> str:
    return _at(epoch).isoformat().replace("+00:00", "Z")
