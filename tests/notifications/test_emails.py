"""Emails of notifications (pevportal/notifications.py): sent after commit by a worker, to the account's
linked users and CIS customer; a broker or mail server that is down loses nothing and doubles nothing."""

import datetime as dt
import smtplib

import pytest
from kombu.exceptions import OperationalError as BrokerError

from enrollment.models import AccountLink
from pevportal import notifications, tasks
from pevportal.models import MAX_EMAIL_ATTEMPTS, Notification
from pevportal.notifications import Notice, notify, send_pending_emails
from tests.factories import UtilityAccountFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.UTC)


def bill_ready(account, bill_id=1):
    return Notice(
        kind=Notification.Kind.BILL_READY,
        dedupe_key=f"bill:{bill_id}",
        account_id=account.pk,
        params={"bill_id": bill_id, "period_on": "2026-10-01", "total": "87.10", "address": "1 Elm Street"},
    )


@pytest.fixture
def account(alice):
    account = UtilityAccountFactory(customer__email="Alice@Example.com")
    AccountLink.objects.create(user=alice, account=account, method="verified")
    return account


def test_it_stores_the_notification_and_emails_it_after_commit(
    account, nudges, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notify([bill_ready(account)])
        notify([bill_ready(account)])  # the same event noticed again

    assert Notification.objects.count() == 1
    assert nudges == [], "nothing is queued before the commit"
    for callback in callbacks:
        callback()
    assert len(nudges) == 2

    assert tasks.send_notification_emails() == 1
    [email] = mailoutbox
    assert email.to == ["alice@example.com"], "one address per person, whatever its case"
    assert email.subject == "Your bill for October 2026 is ready"
    assert "Amount: $87.10" in email.body
    assert tasks.send_notification_emails() == 0, "sent once"
    assert Notification.objects.get().emailed_at is not None


def test_it_emails_each_linked_user_and_the_cis_customer(account, bob, mailoutbox):
    AccountLink.objects.create(user=bob, account=account, method="code")
    account.customer.email = "household@example.com"
    account.customer.save()
    notify([bill_ready(account)])

    send_pending_emails(now=NOW)

    [email] = mailoutbox
    assert email.to == ["alice@example.com", "bob@example.com", "household@example.com"]


def test_a_broker_outage_keeps_the_notification_and_the_sweep_sends_it_later(
    account, monkeypatch, django_capture_on_commit_callbacks, mailoutbox
):
    def broker_down(**options):
        raise BrokerError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr(tasks.send_notification_emails, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        notify([bill_ready(account)])

    assert Notification.objects.get().emailed_at is None
    assert mailoutbox == []

    assert send_pending_emails(now=NOW) == 1, "the beat sweep finds it in the database"
    assert len(mailoutbox) == 1


def test_a_mail_server_that_is_down_costs_no_attempt(account, monkeypatch, mailoutbox):
    notify([bill_ready(account)])

    def refuse_connection(self):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.open", refuse_connection)
    assert send_pending_emails(now=NOW) == 0
    notification = Notification.objects.get()
    assert (notification.emailed_at, notification.email_attempts) == (None, 0)

    monkeypatch.undo()
    assert send_pending_emails(now=NOW) == 1


def test_a_refused_message_is_retried_and_then_given_up(account, monkeypatch, mailoutbox):
    notify([bill_ready(account, 1), bill_ready(account, 2)])
    sent = []

    def send_messages(self, messages):
        if messages[0].body.count("/my/bills/1/"):
            raise smtplib.SMTPRecipientsRefused({"alice@example.com": (550, b"mailbox unavailable")})
        sent.extend(messages)
        return 1

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", send_messages)
    for _ in range(MAX_EMAIL_ATTEMPTS + 2):
        send_pending_emails(now=NOW)

    assert len(sent) == 1, "the other notification is not held up"
    refused = Notification.objects.get(dedupe_key="bill:1")
    assert (refused.emailed_at, refused.email_attempts) == (None, MAX_EMAIL_ATTEMPTS)
    assert not Notification.objects.email_pending().exists()


def test_a_notification_nobody_can_be_emailed_is_not_retried(mailoutbox):
    account = UtilityAccountFactory(customer__email="")
    notify([bill_ready(account)])

    assert send_pending_emails(now=NOW) == 0
    assert Notification.objects.get().emailed_at == NOW
    assert mailoutbox == []


def test_a_full_batch_asks_for_another_run(account, nudges, monkeypatch):
    monkeypatch.setattr(notifications, "EMAIL_BATCH", 2)
    notify([bill_ready(account, n) for n in range(1, 4)])

    assert tasks.send_notification_emails() == 2
    assert len(nudges) == 1
    assert tasks.send_notification_emails() == 1
    assert len(nudges) == 1
