from celery import shared_task

from enrollment.lifecycle import apply_due_plan_switches


@shared_task(ignore_result=True)
def apply_plan_switches() -> int:
    """Hourly: plans scheduled for the 1st of the month become current once it has begun."""
    return apply_due_plan_switches()
