from celery import shared_task

from pevportal.health import record_heartbeat


@shared_task(ignore_result=True)
def heartbeat() -> None:
    """Scheduled every minute by beat; /healthz reads the timestamp to tell that Celery is alive."""
    record_heartbeat()
