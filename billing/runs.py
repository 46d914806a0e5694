"""Billing runs (issue 6; docs/billing.md): a month's bills are issued by a run, a `BillingRun` row a CSR
watches, whose premises are billed in chunks of BILLING_CHUNK_PREMISES — Celery tasks, or one after the
other in-process for `manage.py run_billing`. Each chunk is one transaction through
`billing.bills.bill_premises`, which is idempotent.

Progress is read off the bills and holds themselves rather than added up by the chunks: a chunk
redelivered after its worker died reports its premises as skipped the second time, so adding its outcome
would count them twice. A chunk's transaction adds only its *new* bills and holds to the counters, with F()
(exact: a chunk redone creates none). Once it has committed, the chunk recounts `premises_done` — the run's
premises that have a bill for the month, or an open hold from this run or a later one — and whichever
recount finds every premise done finishes the run. The chunk that commits last recounts after every other
has committed, so some chunk always sees the whole run done; a chunk redelivered after committing just
recounts again. The recount takes no lock and is one index probe per premise of the run: 0.1 s at
100 000 premises on PostgreSQL (0.3 s when it JIT-compiles the query, which costs more than running it).

A month's open hold from an earlier run is rated again by the next run (its data may have been corrected
since), so it counts for a run only once that run has looked at it: the chunk moves a hold that is still
open to its run. Without that, a run over a month with old holds would finish before re-rating them.
"""

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from functools import partial, reduce
from operator import or_

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.db.models.functions import Greatest, Now
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from billing import bills
from billing.models import DEFAULT_TIME_ZONE, Bill, BillHold, BillingRun
from billing.rating import month_span
from pevportal.audit import record
from pevportal.models import Channel

log = structlog.get_logger(__name__)

# What a chunk retries (with backoff) rather than records as an error: the database went away for a moment.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)
FINISHED = (BillingRun.Status.DONE, BillingRun.Status.FAILED)
TRIGGER_CHANNELS = {"beat": Channel.SYSTEM, "command": Channel.ADMIN, "csr": Channel.PHONE}
ERROR_TEXT_LIMIT = 500


@dataclass(frozen=True)
class Chunk:
    """One batch of a run's premises: a consecutive slice of its premise ids in ascending order."""

    run_id: int
    period: dt.date
    premise_ids: list[int]


# --- Months ------------------------------------------------------------------------------------------


def month_zones(period: dt.date, account=None) -> list[str]:
    """The time zones whose months a run over these premises bills (their default tariffs' zones)."""
    premises = bills.premises_to_bill(period, account).order_by()
    zones = premises.values_list("default_tariff__time_zone", flat=True).distinct()
    return sorted(zones) or [DEFAULT_TIME_ZONE]


def month_has_ended(period: dt.date, now: dt.datetime, *, account=None) -> bool:
    """Whether the month is over in every time zone of the premises it would bill."""
    return all(now >= month_span(period, zoneinfo.ZoneInfo(zone))[1] for zone in month_zones(period, account))


# --- Opening and starting a run ----------------------------------------------------------------------


def open_run(period: dt.date, *, account=None, trigger: str, by=None, now: dt.datetime) -> BillingRun:
    """A queued run over a month that has ended (of one account's premises, or of every premise).

    Raises ValidationError for a month not over yet in a premise's time zone: its reads are still coming.
    """
    period = period.replace(day=1)
    if not month_has_ended(period, now, account=account):
        zones = ", ".join(month_zones(period, account))
        raise ValidationError(
            f"{period:%Y-%m} has not ended yet in {zones}; a month is billed once its last day is over."
        )
    with transaction.atomic():
        run = BillingRun.objects.create(period=period, account=account, trigger=trigger, requested_by=by)
        record(
            action="billing_run.opened",
            target=run,
            channel=TRIGGER_CHANNELS[trigger],
            actor=by,
            actor_label="" if by else trigger,
            after={"period": f"{period:%Y-%m}", "account": getattr(account, "number", None)},
        )
    return run


def open_monthly_run(now: dt.datetime) -> BillingRun | None:
    """The beat's run over every premise for last month, started once this commits — unless last month
    has a run already, or is not over yet in some premise's time zone (the beat runs too early)."""
    period = (now.astimezone(dt.UTC).date().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    if not month_has_ended(period, now):
        log.warning("billing.month_not_over", period=f"{period:%Y-%m}")
        return None
    with transaction.atomic():
        # One beat: nothing else opens a run at this moment. Were two opened, the second would bill nothing
        # twice (a bill is once per premise and month).
        if BillingRun.objects.filter(period=period, account__isnull=True).exists():
            return None
        run = open_run(period, trigger="beat", now=now)
        transaction.on_commit(partial(queue_run, run.pk))
    return run


def queue_run(run_id: int) -> bool:
    """Ask a worker to start the run. A broker that is down fails the run, with the reason, at once: the
    run would otherwise wait as queued for a start that never comes."""
    from billing import tasks

    try:
        # No publish retries: whoever opened the run (a CSR, the command) must not wait for a dead broker.
        tasks.start_billing_run.apply_async((run_id,), retry=False)
    except (BrokerError, OSError) as exc:
        log.warning("billing.run_enqueue_failed", run=run_id, error=str(exc))
        fail_run(run_id, f"The run could not be queued: {exc}", now=timezone.now())
        return False
    return True


def fail_run(run_id: int, reason: str, *, now: dt.datetime) -> None:
    """End a run that cannot go on (it could not be queued or started), with the reason for the CSR.
    Its chunks still queued, if any, then do nothing; billing the month again finishes the job."""
    with transaction.atomic():
        run = BillingRun.objects.select_for_update(no_key=True).filter(pk=run_id).first()
        if run is None or run.status in FINISHED:
            return
        run.errors = [*run.errors, _error(reason, now=now)]
        run.status, run.finished_at = BillingRun.Status.FAILED, now
        run.save(update_fields=["errors", "status", "finished_at"])


def start_run(run_id: int, *, now: dt.datetime) -> list[Chunk]:
    """Mark a queued run running, fix its premises and return its chunks (none for a run that is over).

    Started again while running (the start task redelivered after its worker died while sending the
    chunks), it returns chunks of the premises not done yet: a chunk sent twice does no harm.
    """
    with transaction.atomic():
        run = BillingRun.objects.select_for_update(no_key=True).filter(pk=run_id).first()
        if run is None or run.status in FINISHED:
            return []
        premises = bills.premises_to_bill(run.period, run.account_id)
        if run.status == BillingRun.Status.QUEUED:
            ids = list(premises)
            run.status, run.started_at, run.premises_total = BillingRun.Status.RUNNING, now, len(ids)
            run.save(update_fields=["status", "started_at", "premises_total"])
        else:
            ids = list(premises.exclude(_done(run)))
    if not ids:
        recount(run.pk, now=now)
    size = settings.BILLING_CHUNK_PREMISES
    return [Chunk(run.pk, run.period, ids[i : i + size]) for i in range(0, len(ids), size)]


# --- Billing a chunk ---------------------------------------------------------------------------------


def bill_chunk(run_id: int, premise_ids: list[int], period: dt.date, *, now: dt.datetime):
    """Bill one chunk of a run, then recount the run's progress; returns the chunk's `bills.Outcome`, or
    None when the run is gone or over or the chunk failed.

    A transient database error is raised for the caller to retry; any other error is recorded on the run
    with the chunk's premises, and the run goes on with the other chunks.
    """
    run = BillingRun.objects.filter(pk=run_id).only("pk", "status").first()
    if run is None or run.status in FINISHED:
        return None
    try:
        with transaction.atomic():
            outcome = bills.bill_premises(premise_ids, period, run=run, now=now)
            # Still held: this run has looked at the hold (module docstring). Run ids only grow, so two
            # runs over the same month never take a hold from each other back and forth.
            BillHold.objects.filter(
                premise_id__in=premise_ids, period=period, status=BillHold.Status.OPEN
            ).filter(Q(run__isnull=True) | Q(run_id__lt=run_id)).update(run_id=run_id)
            BillingRun.objects.filter(pk=run_id).update(
                bills_issued=F("bills_issued") + outcome.issued, bills_held=F("bills_held") + outcome.held
            )
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        log.exception("billing.chunk_failed", run=run_id, premises=len(premise_ids))
        record_chunk_failure(run_id, premise_ids, exc, now=now)
        return None
    recount(run_id, now=now)
    return outcome


def record_chunk_failure(run_id: int, premise_ids: list[int], exc: BaseException, *, now) -> None:
    """Record on the run that a chunk's premises could not be billed, and why; the run fails once every
    other premise is done. Billing the month again (a new run) bills them once the cause is fixed."""
    if not premise_ids:
        return
    error = _error(
        f"{type(exc).__name__}: {exc}",
        now=now,
        first_premise=min(premise_ids),
        last_premise=max(premise_ids),
        premises=len(premise_ids),
    )
    with transaction.atomic():
        run = BillingRun.objects.select_for_update(no_key=True).filter(pk=run_id).first()
        if run is None:
            return
        if not any(_same_failure(error, seen) for seen in run.errors):
            run.errors = [*run.errors, error]
            run.save(update_fields=["errors"])
    recount(run_id, now=now)


def recount(run_id: int, *, now: dt.datetime) -> None:
    """Count the run's premises done, and finish the run once each is done or in a failed chunk. Called
    after a chunk commits; runs in parallel with other chunks' recounts, so it only ever raises the count
    and the first to see the run over finishes it."""
    run = BillingRun.objects.filter(pk=run_id).first()
    if run is None:
        return
    done = _done(run)
    failed = [
        Q(pk__range=(e["first_premise"], e["last_premise"])) for e in run.errors if "first_premise" in e
    ]
    counts = (
        bills.premises_to_bill(run.period, run.account_id)
        .order_by()
        .aggregate(done=Count("pk", filter=done), settled=Count("pk", filter=reduce(or_, failed, done)))
    )
    BillingRun.objects.filter(pk=run_id).update(premises_done=Greatest("premises_done", counts["done"]))
    if counts["settled"] >= run.premises_total:
        complete = counts["done"] >= run.premises_total
        BillingRun.objects.filter(pk=run_id, status=BillingRun.Status.RUNNING).update(
            # The database's clock: `now` is when this chunk's task started, not when the run finished.
            status=BillingRun.Status.DONE if complete else BillingRun.Status.FAILED,
            finished_at=Now(),
        )


def _done(run: BillingRun) -> Q:
    """A premise the run is done with: billed for the month, or held by this run or a later one."""
    return Q(Exists(Bill.objects.filter(premise=OuterRef("pk"), period=run.period))) | Q(
        Exists(
            BillHold.objects.filter(
                premise=OuterRef("pk"), period=run.period, status=BillHold.Status.OPEN, run_id__gte=run.pk
            )
        )
    )


@dataclass(frozen=True)
class RunError:
    """An error on a run as a CSR reads it: when, why, and which premises (by premise ID) it left unbilled."""

    at: dt.datetime
    text: str
    premises: int = 0
    first_premise: str = ""
    last_premise: str = ""


def run_errors(run: BillingRun) -> list[RunError]:
    """The run's errors, oldest first, with their premises' IDs (one query)."""
    from enrollment.models import Premise

    pks = {e[key] for e in run.errors for key in ("first_premise", "last_premise") if key in e}
    labels = dict(Premise.objects.filter(pk__in=pks).values_list("pk", "premise_id")) if pks else {}
    return [
        RunError(
            at=dt.datetime.fromisoformat(e["at"]),
            text=e["error"],
            premises=e.get("premises", 0),
            first_premise=labels.get(e.get("first_premise"), ""),
            last_premise=labels.get(e.get("last_premise"), ""),
        )
        for e in run.errors
    ]


def _error(text: str, *, now: dt.datetime, **premises) -> dict:
    return {"at": now.isoformat(), "error": text[:ERROR_TEXT_LIMIT], **premises}


def _same_failure(a: dict, b: dict) -> bool:
    """The same chunk failing the same way again (redelivered): recorded once."""
    return all(a.get(key) == b.get(key) for key in ("first_premise", "last_premise", "error"))
