from celery import shared_task
from django.utils import timezone

from pevportal import notifications
from pevportal.health import record_heartbeat


@shared_task(ignore_result=True)
def heartbeat() -> None:
    """Scheduled every minute by beat; /healthz reads the timestamp to tell that Celery is alive."""
    record_heartbeat()


@shared_task(ignore_result=True, acks_late=True)
def send_notification_emails() -> int:
    """After a notification commits, and every five minutes (beat) for those a broker or mail-server outage
    held back: email the customers (pevportal/notifications.py). A full batch sends another run at once."""
    sent = notifications.send_pending_emails(notifications.EMAIL_BATCH, now=timezone.now())
    if sent >= notifications.EMAIL_BATCH:
        notifications.send_emails_task()
    return sent
