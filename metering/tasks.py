"""Metering's background work: thin tasks around plain functions that tests call directly."""

from celery import shared_task
from django.utils import timezone

from metering import correlation, partitions


@shared_task(ignore_result=True, acks_late=True)
def correlate_due_sessions() -> int:
    """Every minute (beat) and after reads commit: correlate the queued sessions (Req 15). A full batch
    means more are waiting, so another run is sent at once."""
    done = correlation.correlate_due(correlation.DUE_BATCH, now=timezone.now())
    if done >= correlation.DUE_BATCH:
        correlation.send_correlation_task()
    return done


@shared_task(ignore_result=True, acks_late=True)
def create_read_partitions() -> int:
    """Every six hours: the read tables' daily partitions for the days ahead (PostgreSQL)."""
    return partitions.create_ahead()
