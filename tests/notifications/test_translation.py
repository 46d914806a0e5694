"""Notification text is translatable (Spanish ships with the catalogue): every line a customer reads goes
through gettext, rendered in the reader's language when shown and in the site's default when emailed.

A pseudo-translation stands in for the catalogue: under "es" every message comes back «wrapped», so a line
without « is text that would stay English."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import translation

from enrollment.models import AccountLink
from pevportal.models import Notification
from pevportal.notifications import Notice, notify, render, send_pending_emails
from tests.factories import UtilityAccountFactory

pytestmark = pytest.mark.django_db
Kind = Notification.Kind
AT = "2026-11-26T18:00:00Z"
TIME_ZONE = "America/Los_Angeles"
SESSION = {"vehicle": "2024 Kia EV6", "address": "12 Elm Street", "plugged_in_at": AT, "time_zone": TIME_ZONE}
EXAMPLES = {
    Kind.COMMISSIONED: {**SESSION, "bound_at": AT, "plan": "EV Standard"},
    Kind.BINDING_FAILED: {**SESSION, "state": "unbound", "advice": "setup", "enrollment_id": 7},
    Kind.GUEST_AT_PREMISE: {**SESSION, "billed_to_host": True},
    Kind.GUEST_SESSION: {**SESSION, "billed_to_host": False},
    Kind.BILL_READY: {
        "bill_id": 3,
        "period_on": "2026-10-01",
        "total": "8.10",
        "estimated": True,
        "address": "1",
    },
    Kind.CRITICAL_PEAK: {
        "tariff_name": "TOU-D-4-9PM",
        "event_on": "2026-11-27",
        "starts_at": "2026-11-28T00:00:00Z",
        "ends_at": "2026-11-28T05:00:00Z",
        "adder": "0.80",
        "time_zone": TIME_ZONE,
    },
}


@pytest.fixture
def pseudo_spanish(monkeypatch):
    """Under "es", gettext and friends wrap what they return in « »; English is left alone."""
    trans = translation._trans
    originals = {name: getattr(trans, name) for name in ("gettext", "ngettext", "pgettext", "npgettext")}

    def wrap(name):
        def translated(*args):
            text = originals[name](*args)
            return f"«{text}»" if translation.get_language() == "es" else text

        return translated

    for name in originals:
        monkeypatch.setattr(trans, name, wrap(name))


@pytest.mark.parametrize("kind", list(Kind))
def test_every_line_of_every_kind_is_translatable(kind, pseudo_spanish):
    notification = Notification(kind=kind, params=EXAMPLES[kind], dedupe_key="x")

    with translation.override("es"):
        subject, body = render(notification)
    with translation.override("en"):
        english = render(notification)

    lines = [subject, *(line for line in body.splitlines() if line.strip())]
    assert all("«" in line for line in lines), [line for line in lines if "«" not in line]
    assert "«" not in "".join(english)


def test_the_page_shows_the_readers_language_and_email_the_sites(client, alice, pseudo_spanish, mailoutbox):
    account = UtilityAccountFactory()
    AccountLink.objects.create(user=alice, account=account, method="verified")
    bill = EXAMPLES[Kind.BILL_READY]
    notify([Notice(kind=Kind.BILL_READY, dedupe_key="bill:3", account_id=account.pk, params=bill)])
    client.force_login(alice)

    with translation.override("es"):
        response = client.get(reverse("my-notifications"), HTTP_ACCEPT_LANGUAGE="es")
        send_pending_emails(now=dt.datetime(2026, 11, 26, tzinfo=dt.UTC))

    [shown] = response.context["notifications"]
    assert shown.subject.startswith("«")
    [email] = mailoutbox
    assert email.subject == "Your bill for October 2026 is ready", "customers have no stored language yet"
