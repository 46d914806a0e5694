"""Billing's Celery tasks: thin wrappers around plain functions that tests call directly."""

from celery import shared_task

from billing.holidays import extend_calendars


@shared_task(acks_late=True)
def extend_holiday_calendars() -> int:
    """Monthly (beat): build every holiday calendar through two years ahead, so pricing never runs past it."""
    return extend_calendars()
