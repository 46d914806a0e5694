"""Billing's Celery tasks: thin wrappers around plain functions that tests call directly."""

import datetime as dt

from celery import Task, shared_task
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from billing import notifications, runs
from billing.holidays import extend_calendars


@shared_task(acks_late=True)
def extend_holiday_calendars() -> int:
    """Monthly (beat): build every holiday calendar through two years ahead, so pricing never runs past it."""
    return extend_calendars()


@shared_task(acks_late=True, ignore_result=True)
def notify_critical_peaks() -> int:
    """Hourly (beat): tell customers of tomorrow's critical-peak events, each once (billing/notifications)."""
    return notifications.notify_critical_peaks(timezone.now())


@shared_task(acks_late=True, ignore_result=True)
def open_monthly_billing_run() -> int | None:
    """Monthly (beat): open and start the run over last month, unless it has one; the new run's id."""
    run = runs.open_monthly_run(timezone.now())
    return run.pk if run else None


class _StartTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        """Out of retries: the run is failed with the reason rather than left running with no chunks."""
        run_id = _arguments(args, kwargs)["run_id"]
        runs.fail_run(run_id, f"The run could not start: {exc}", now=timezone.now())


@shared_task(
    base=_StartTask,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(*runs.TRANSIENT_ERRORS, BrokerError),
    retry_backoff=True,
    max_retries=5,
)
def start_billing_run(run_id: int) -> int:
    """Fan a run out into chunk tasks; how many were sent. Redelivered or retried after sending some, it
    sends the chunks of the premises not done yet again (a chunk billed twice issues nothing twice)."""
    chunks = runs.start_run(run_id, now=timezone.now())
    for chunk in chunks:
        bill_chunk.delay(chunk.run_id, chunk.premise_ids, chunk.period.isoformat())
    return len(chunks)


class _ChunkTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        """Out of retries on a transient error: the chunk's premises are recorded on the run as failed."""
        arguments = _arguments(args, kwargs)
        runs.record_chunk_failure(arguments["run_id"], arguments["premise_ids"], exc, now=timezone.now())


@shared_task(
    base=_ChunkTask,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=runs.TRANSIENT_ERRORS,
    retry_backoff=True,
    max_retries=5,
)
def bill_chunk(run_id: int, premise_ids: list[int], period_iso: str) -> None:
    """Bill a batch of a run's premises (BILLING_CHUNK_PREMISES). Acknowledged only once done: a worker
    that dies mid-chunk has it redelivered, and billing it again issues nothing twice (billing/runs.py)."""
    runs.bill_chunk(run_id, premise_ids, dt.date.fromisoformat(period_iso), now=timezone.now())


def _arguments(args, kwargs) -> dict:
    return {**dict(zip(("run_id", "premise_ids", "period_iso"), args, strict=False)), **kwargs}
