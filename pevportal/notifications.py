"""Customer notifications (issue 7; docs/notifications.md): shown on the customer's pages and emailed.

An app that decides something a customer should hear of (binding/notifications.py, billing/notifications.py)
builds `Notice`s and calls `notify` inside its own transaction. The rows are written set-based; a row whose
`dedupe_key` exists already is skipped, so a retried request, a re-run task or a second code path noticing
the same event tells the customer once. After commit a worker is nudged to send the emails; with the broker
down the rows wait in the database and the beat sweep (`send_pending_emails`) sends them, as correlation's
queue does (metering/correlation.py).

Only the kind and its parameters are stored. The subject and text are rendered from
templates/pevportal/email/<kind>_subject.txt and <kind>.txt when the notification is shown (in the reader's
language) or sent (customers have no stored language: emails go out in the site's default one).
"""

import datetime as dt
import smtplib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone, translation
from kombu.exceptions import OperationalError as BrokerError

from pevportal.models import Notification

log = structlog.get_logger(__name__)

# Rows per INSERT when a task notifies many accounts at once (a critical-peak day).
INSERT_BATCH = 1000
# Notifications emailed per task run; a full run asks for another one at once.
EMAIL_BATCH = 500
# Notifications locked and emailed per transaction (their rows stay locked while the mail server answers).
LOCK_BATCH = 50
# Shown on the dashboard; the rest are on /my/notifications/.
DASHBOARD_LATEST = 5
# The zone of a notification's time when its parameters name none (the tariffs' default).
FALLBACK_TIME_ZONE = "America/Los_Angeles"

# A message the mail server refused: counted against Notification.email_attempts. Any other OSError
# (smtplib's errors are OSErrors) means the server is unreachable: the rest wait, no attempt counted.
_REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


@dataclass(frozen=True)
class Notice:
    """One notification to create: for an account (its linked users and the CIS customer hear of it) or
    for one user. `params` must be JSON: ids, strings, ISO dates (keys ending `_on`) and UTC instants
    (keys ending `_at`), which the templates get back as dates and datetimes."""

    kind: str
    dedupe_key: str
    params: dict
    account_id: int | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class Shown:
    """A notification as a page shows it, rendered in the active language."""

    pk: int
    kind: str
    created_at: dt.datetime
    time_zone: str
    unread: bool
    subject: str
    body: str


@dataclass(frozen=True)
class DashboardNotifications:
    latest: list[Shown]
    unread_count: int


# --- Creating ------------------------------------------------------------------------------------------


def notify(notices: Iterable[Notice]) -> None:
    """Store the notices (those whose dedupe_key exists are skipped) in the caller's transaction and email
    them once it commits."""
    rows = [
        Notification(
            account_id=notice.account_id,
            user_id=notice.user_id,
            kind=notice.kind,
            params=notice.params,
            dedupe_key=notice.dedupe_key,
        )
        for notice in notices
    ]
    if not rows:
        return
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=INSERT_BATCH)
    # One nudge per call: callers notify set-based (a billing chunk's bills at once), so a few per commit.
    transaction.on_commit(send_emails_task, robust=True)


def send_emails_task() -> None:
    """Send `send_notification_emails` now. A broker outage is logged, not raised: the rows are in the
    database and the beat sweep sends them."""
    from pevportal import tasks

    try:
        # No publish retries: the request that notified must not wait for a broker that is down.
        tasks.send_notification_emails.apply_async(retry=False)
    except (BrokerError, OSError) as exc:
        log.warning("notifications.enqueue_failed", error=str(exc))


# --- Emailing ------------------------------------------------------------------------------------------


def send_pending_emails(limit: int = EMAIL_BATCH, *, now: dt.datetime) -> int:
    """Email up to `limit` notifications not emailed yet, oldest first; returns how many went out.

    Short transactions of LOCK_BATCH rows, locked with SKIP LOCKED so two workers never send the same one.
    A worker killed after sending but before committing sends those again (at least once, never lost).
    """
    handled: list[int] = []
    sent = 0
    while len(handled) < limit:
        with transaction.atomic():
            batch = list(
                Notification.objects.email_pending()
                .exclude(pk__in=handled)
                .select_for_update(skip_locked=True)
                .order_by("created_at", "pk")[: min(LOCK_BATCH, limit - len(handled))]
            )
            if not batch:
                break
            done = _email(batch, now=now)
        if done is None:
            break
        handled += [notification.pk for notification in batch]
        sent += done
    return sent


def _email(batch: Sequence[Notification], *, now: dt.datetime) -> int | None:
    """Send one batch over one connection and record the outcome; None when the server is unreachable."""
    recipients = _recipients(batch)
    connection = mail.get_connection()
    try:
        connection.open()
    except OSError as exc:
        log.warning("notifications.mail_server_unreachable", error=str(exc))
        return None
    sent, refused, nobody = [], [], []
    try:
        with translation.override(settings.LANGUAGE_CODE):
            for notification in batch:
                to = recipients.get(notification.pk)
                if not to:
                    nobody.append(notification.pk)
                    continue
                try:
                    subject, body = render(notification)
                    mail.EmailMessage(subject, body, to=to, connection=connection).send()
                except _REFUSED as exc:
                    log.warning("notifications.email_refused", notification=notification.pk, error=str(exc))
                    refused.append(notification.pk)
                except OSError as exc:
                    log.warning("notifications.mail_server_lost", error=str(exc))
                    break
                except Exception:
                    # A notification that cannot be rendered must not block the ones behind it.
                    log.exception("notifications.email_failed", notification=notification.pk)
                    refused.append(notification.pk)
                else:
                    sent.append(notification.pk)
    finally:
        connection.close()
    Notification.objects.filter(pk__in=sent + nobody).update(emailed_at=now)
    Notification.objects.filter(pk__in=refused).update(email_attempts=F("email_attempts") + 1)
    return len(sent)


def _recipients(batch: Sequence[Notification]) -> dict[int, list[str]]:
    """Each notification's addresses: an account's linked users and its CIS customer; a user's own."""
    from enrollment.models import AccountLink, UtilityAccount

    account_ids = {n.account_id for n in batch if n.account_id}
    user_ids = {n.user_id for n in batch if n.user_id}
    by_account: dict[int, list[str]] = defaultdict(list)
    if account_ids:
        links = (
            AccountLink.objects.filter(account_id__in=account_ids, user__is_active=True)
            .exclude(user__email="")
            .values_list("account_id", "user__email")
        )
        customers = (
            UtilityAccount.objects.filter(pk__in=account_ids)
            .exclude(customer__email="")
            .values_list("pk", "customer__email")
        )
        for account_id, email in [*links, *customers]:
            by_account[account_id].append(email)
    by_user = dict(
        get_user_model()
        .objects.filter(pk__in=user_ids, is_active=True)
        .exclude(email="")
        .values_list("pk", "email")
        if user_ids
        else []
    )
    recipients = {}
    for notification in batch:
        emails = [*by_account.get(notification.account_id, []), by_user.get(notification.user_id, "")]
        recipients[notification.pk] = _distinct(emails)
    return recipients


def _distinct(emails: Iterable[str]) -> list[str]:
    """Sorted, without blanks, one per address whatever its case (the CIS and a login may differ)."""
    unique = {}
    for email in emails:
        if email:
            unique.setdefault(email.lower(), email)
    return sorted(unique.values(), key=str.lower)


# --- Rendering -----------------------------------------------------------------------------------------


def render(notification: Notification) -> tuple[str, str]:
    """(subject, text) in the active language."""
    context = _context(notification.params)
    subject = render_to_string(f"pevportal/email/{notification.kind}_subject.txt", context)
    body = render_to_string(f"pevportal/email/{notification.kind}.txt", context)
    return " ".join(subject.split()), body.strip()


def _context(params: dict) -> dict:
    context = {
        "phone": settings.PORTAL_PHONE,
        "site_url": settings.SITE_URL,
        "utility_name": settings.PORTAL_UTILITY_NAME,
        "time_zone": FALLBACK_TIME_ZONE,
    }
    for key, value in params.items():
        if value and key.endswith("_at"):
            value = dt.datetime.fromisoformat(value)
        elif value and key.endswith("_on"):
            value = dt.date.fromisoformat(value)
        context[key] = value
    return context


def shown(notifications: Iterable[Notification]) -> list[Shown]:
    result = []
    for notification in notifications:
        subject, body = render(notification)
        result.append(
            Shown(
                pk=notification.pk,
                kind=notification.kind,
                created_at=notification.created_at,
                time_zone=notification.params.get("time_zone") or FALLBACK_TIME_ZONE,
                unread=notification.read_at is None,
                subject=subject,
                body=body,
            )
        )
    return result


# --- The customer's pages ------------------------------------------------------------------------------


def dashboard_notifications(user) -> DashboardNotifications:
    """The latest few of the user's notifications and how many are unread, in two queries."""
    visible = Notification.objects.for_user(user)
    latest = list(visible.order_by("-created_at", "-pk")[:DASHBOARD_LATEST])
    return DashboardNotifications(latest=shown(latest), unread_count=visible.unread().count())


def unread_count(user) -> int:
    return Notification.objects.for_user(user).unread().count()


def mark_all_read(user, *, now: dt.datetime | None = None) -> int:
    """Mark every notification the user can see as read (for the whole household: the rows are the
    account's); returns how many were unread."""
    return Notification.objects.for_user(user).unread().update(read_at=now or timezone.now())
