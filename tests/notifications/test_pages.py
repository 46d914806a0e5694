"""/my/notifications/ and the dashboard's notifications: newest first, a page at a time, mark all as read;
customer A never sees customer B's."""

import datetime as dt

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from enrollment.models import AccountLink
from pevportal import views_notifications
from pevportal.models import Notification
from pevportal.notifications import Notice, dashboard_notifications, notify
from tests.factories import UtilityAccountFactory

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)


def linked(user):
    account = UtilityAccountFactory()
    AccountLink.objects.create(user=user, account=account, method="verified")
    return account


def bills(account, count, *, first=1):
    """`count` bill notifications, one a day from START: bill n is the n-th newest-but-last."""
    notify(
        Notice(
            kind=Notification.Kind.BILL_READY,
            dedupe_key=f"bill:{bill_id}",
            account_id=account.pk,
            params={"bill_id": bill_id, "period_on": "2026-09-01", "total": f"{bill_id}.00", "address": "E"},
        )
        for bill_id in range(first, first + count)
    )
    for bill_id in range(first, first + count):
        Notification.objects.filter(dedupe_key=f"bill:{bill_id}").update(
            created_at=START + dt.timedelta(days=bill_id)
        )


@pytest.fixture
def alices(alice):
    account = linked(alice)
    bills(account, 3)
    return account


@pytest.fixture
def bobs(bob):
    account = linked(bob)
    bills(account, 2, first=100)
    return account


def test_it_lists_a_customers_notifications_newest_first(client, alice, alices, bobs):
    client.force_login(alice)

    response = client.get(reverse("my-notifications"))

    assert response.status_code == 200
    shown = [notification.subject for notification in response.context["notifications"]]
    assert len(shown) == 3
    totals = [n.body.split("Amount: ")[1].split(".")[0] for n in response.context["notifications"]]
    assert totals == ["$3", "$2", "$1"]
    assert response.context["unread_count"] == 3
    assert b"You have 3 unread notifications." in response.content
    assert b"$100.00" not in response.content, "never Bob's"


def test_alice_and_bob_each_see_only_their_own(client, alice, bob, alices, bobs):
    assert dashboard_notifications(alice).unread_count == 3
    assert dashboard_notifications(bob).unread_count == 2
    client.force_login(bob)

    client.post(reverse("my-notifications-read"))

    assert Notification.objects.filter(account=alices, read_at__isnull=True).count() == 3, "Alice's untouched"
    assert not Notification.objects.filter(account=bobs, read_at__isnull=True).exists()


def test_it_marks_all_as_read(client, alice, alices):
    client.force_login(alice)

    response = client.post(reverse("my-notifications-read"), follow=True)

    assert response.redirect_chain == [(reverse("my-notifications"), 302)]
    assert b"3 notifications marked as read." in response.content
    assert response.context["unread_count"] == 0
    assert not any(notification.unread for notification in response.context["notifications"])


def test_marking_as_read_needs_a_post(client, alice, alices):
    client.force_login(alice)

    assert client.get(reverse("my-notifications-read")).status_code == 405
    assert Notification.objects.unread().count() == 3


def test_it_pages_through_many(client, alice, monkeypatch):
    monkeypatch.setattr(views_notifications, "PAGE_SIZE", 2)
    bills(linked(alice), 5)
    client.force_login(alice)

    first = client.get(reverse("my-notifications"))
    last = client.get(reverse("my-notifications"), {"page": 3})

    assert len(first.context["notifications"]) == 2
    assert b"Page 1 of 3" in first.content
    assert [n.body.count("$1.00") for n in last.context["notifications"]] == [1]


def test_signing_in_is_required(client):
    response = client.get(reverse("my-notifications"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_the_dashboard_part_takes_two_queries(alice, alices, django_assert_num_queries):
    with django_assert_num_queries(2):
        notifications = dashboard_notifications(alice)

    assert notifications.unread_count == 3
    html = render_to_string("pevportal/_notifications.html", {"notifications": notifications})
    assert "3 unread" in html
    assert html.count("<li>") == 3
    assert reverse("my-notifications") in html


def test_the_dashboard_part_with_nothing_to_show(bob):
    notifications = dashboard_notifications(bob)

    html = render_to_string("pevportal/_notifications.html", {"notifications": notifications})
    assert "No notifications yet." in html
