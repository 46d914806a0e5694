"""What a CSR decides in the metering review queues (issue 5): apply or dismiss a read revision, clear a
failed load correlation (Req 15). Each action is atomic, audited, and refused when the row's state does not
allow it.

A revision is never applied to an interval already billed: that correction belongs on the next bill as an
adjustment (issue 6), so the revision can only be dismissed here.
"""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from enrollment.models import Premise
from metering import correlation as correlating
from metering import rollups
from metering.models import LoadCorrelation, Meter, MeterKind, PevRead, PremiseRead, ReadRevision
from pevportal.audit import record
from pevportal.models import Channel

NOTE_MAX_LENGTH = ReadRevision._meta.get_field("note").max_length


class ReviewRefused(Exception):
    """A review action the row's current state does not allow; the message says why, for the CSR."""


class RevisionNotOpen(ReviewRefused):
    pass


class IntervalBilled(ReviewRefused):
    pass


class StoredReadMissing(ReviewRefused):
    pass


class NotAFail(ReviewRefused):
    pass


def apply_revision(
    revision: ReadRevision, *, by, note: str, channel: Channel = Channel.PHONE
) -> ReadRevision:
    """Make the revision's value the stored read's, rebuild that day's rollups of the premise and queue the
    sessions that the interval touches for correlation. Refused for a billed interval or a closed revision."""
    note = _clean_note(note)
    with transaction.atomic():
        # The meter first, as ingest and billing lock it: a batch for this meter, or billing moving its
        # billed_through past this interval, waits until the revision is applied (or sees it applied).
        meter = Meter.objects.select_for_update().get(pk=revision.meter_id)
        revision = _open_revision(revision)
        if meter.is_billed(revision.interval_start):
            raise IntervalBilled(
                _("The interval is already billed: dismiss the revision; the next bill corrects it.")
            )
        model = PevRead if meter.kind == MeterKind.EUMD else PremiseRead
        reads = model.objects.filter(meter_id=meter.pk, interval_start=revision.interval_start)
        stored = reads.values("wh", "interval_seconds", "premise_id").first()
        if stored is None:
            raise StoredReadMissing(_("No stored read for this interval: dismiss the revision."))
        reads.update(wh=revision.wh, interval_seconds=revision.interval_seconds)
        before = _snapshot(revision)
        _resolve(revision, ReadRevision.Status.APPLIED, by, note)
        record(
            action="read_revision.applied",
            target=revision,
            channel=channel,
            actor=by,
            before={**before, "read_wh": stored["wh"], "read_interval_seconds": stored["interval_seconds"]},
            after={
                **_snapshot(revision),
                "read_wh": revision.wh,
                "read_interval_seconds": revision.interval_seconds,
            },
        )
        _rebuild_rollups(stored["premise_id"], revision.interval_start)
        _queue_sessions(meter, revision, stored["premise_id"])
    return revision


def dismiss_revision(
    revision: ReadRevision, *, by, note: str, channel: Channel = Channel.PHONE
) -> ReadRevision:
    """Keep the stored read as it is; the revision leaves the queue with the CSR's note."""
    note = _clean_note(note)
    with transaction.atomic():
        revision = _open_revision(revision)
        before = _snapshot(revision)
        _resolve(revision, ReadRevision.Status.DISMISSED, by, note)
        record(
            action="read_revision.dismissed",
            target=revision,
            channel=channel,
            actor=by,
            before=before,
            after=_snapshot(revision),
        )
    return revision


def clear_correlation(
    correlation: LoadCorrelation, *, by, note: str, channel: Channel = Channel.PHONE
) -> LoadCorrelation:
    """Accept a failed session's energy at its PEV plan after all (billing then counts it as bound). Only
    an uncleared `fail` can be cleared; a later, different fail withdraws the clearance (see correlate)."""
    note = _clean_note(note)
    with transaction.atomic():
        correlation = LoadCorrelation.objects.select_for_update().get(pk=correlation.pk)
        if correlation.result != LoadCorrelation.Result.FAIL:
            raise NotAFail(
                _("Only a failed correlation can be cleared; this one is %(result)s.")
                % {"result": correlation.get_result_display()}
            )
        if correlation.cleared_at is not None:
            raise NotAFail(_("This failed correlation is already cleared."))
        correlation.cleared_by = by
        correlation.cleared_at = timezone.now()
        correlation.clear_note = note
        correlation.save(update_fields=["cleared_by", "cleared_at", "clear_note"])
        record(
            action="load_correlation.cleared",
            target=correlation,
            channel=channel,
            actor=by,
            before={"result": correlation.result, "cleared_at": None},
            after={"result": correlation.result, "cleared_at": correlation.cleared_at, "clear_note": note},
            context={
                "binding": str(correlation.binding_id),
                "exceeding_count": correlation.evidence.get("exceeding_count"),
            },
        )
    return correlation


def _clean_note(note: str) -> str:
    note = (note or "").strip()
    if not note:
        raise ValidationError(_("Write a note: why this decision."), code="note")
    if len(note) > NOTE_MAX_LENGTH:
        raise ValidationError(
            _("Keep the note under %(n)s characters.") % {"n": NOTE_MAX_LENGTH}, code="note"
        )
    return note


def _open_revision(revision: ReadRevision) -> ReadRevision:
    # Locked: two CSRs resolving the same revision at once — the second sees it resolved.
    revision = ReadRevision.objects.select_for_update().get(pk=revision.pk)
    if revision.status != ReadRevision.Status.OPEN:
        raise RevisionNotOpen(
            _("This revision was already %(status)s.") % {"status": revision.get_status_display().lower()}
        )
    return revision


def _resolve(revision: ReadRevision, status: str, by, note: str) -> None:
    revision.status = status
    revision.resolved_by = by
    revision.resolved_at = timezone.now()
    revision.note = note
    revision.save(update_fields=["status", "resolved_by", "resolved_at", "note"])


def _snapshot(revision: ReadRevision) -> dict:
    return {
        "status": revision.status,
        "note": revision.note,
        "meter": revision.meter_id,
        "interval_start": revision.interval_start.isoformat(),
        "wh": revision.wh,
        "stored_wh": revision.stored_wh,
    }


def _rebuild_rollups(premise_id: int, interval_start: dt.datetime) -> None:
    """The premise's rollups of the local day the interval starts in (its default tariff's zone)."""
    zone = Premise.objects.select_related("default_tariff").get(pk=premise_id).default_tariff.zone
    day = interval_start.astimezone(zone).date()
    rollups.rebuild(premise_id, day, day)


def _queue_sessions(meter: Meter, revision: ReadRevision, premise_id: int) -> None:
    """Queue for correlation the sessions whose comparison the changed read enters."""
    if meter.kind == MeterKind.EUMD:
        binding_ids = PevRead.objects.filter(
            meter_id=meter.pk, interval_start=revision.interval_start, binding_id__isnull=False
        ).values_list("binding_id", flat=True)
    else:
        end = revision.interval_start + dt.timedelta(seconds=revision.interval_seconds)
        # A premise interval also serves as the step neighbour of a session just before or after it.
        binding_ids = correlating.bindings_overlapping(
            [premise_id], revision.interval_start - correlating.MAX_INTERVAL, end + correlating.MAX_INTERVAL
        )
    if correlating.queue_correlation(list(binding_ids)):
        correlating.enqueue_after_commit()
