"""Binding tells customers (issue 7; Req 17, 24): their vehicle is set up, a plug-in at home was not
recognised (with what to do), a guest charged. Each event once, whichever path notices it."""

import datetime as dt

import pytest

from binding import handshake
from binding.models import Binding
from enrollment.models import CommissioningWindow, GuestCharging
from pevportal.models import Notification
from pevportal.notifications import render, send_pending_emails
from tests.binding.pevs import KeyedPev
from tests.binding.test_handshake import NOW, stamp

Kind = Notification.Kind
State = Binding.State


def kinds():
    return sorted(Notification.objects.values_list("kind", "account_id"))


def test_it_tells_the_customer_once_that_their_vehicle_is_set_up(make_home, alice, mailoutbox):
    home = make_home(alice)
    binding = home.commission()

    notification = Notification.objects.get()
    assert (notification.kind, notification.account_id) == (Kind.COMMISSIONED, home.premise.account_id)
    assert notification.dedupe_key == f"commissioned:{binding.pk}"
    subject, body = render(notification)
    assert subject == f"Your {home.enrollment.pev.description} is set up for your EV plan"
    assert home.premise.service_address in body
    assert "EV Standard" in body

    with pytest.raises(handshake.Conflict):  # the EUMD retries its acknowledgement
        handshake.confirm_eumd_ack(
            binding.pk,
            eumd=home.eumd,
            parameters_version=binding.parameters_version,
            interval_seconds=900,
            now=NOW + dt.timedelta(seconds=3),
        )
    assert Notification.objects.count() == 1

    assert send_pending_emails(now=NOW) == 1
    [email] = mailoutbox
    assert email.to == sorted(["alice@example.com", home.premise.account.customer.email])
    assert email.subject == subject
    assert send_pending_emails(now=NOW) == 0, "sent once"


def test_a_re_binding_or_an_unknown_vin_tells_no_one(make_home):
    home = make_home()
    home.commission(at=NOW - dt.timedelta(days=1))
    Notification.objects.all().delete()

    later = NOW + dt.timedelta(hours=1)
    rebound = handshake.request_binding(home.plug(at=later, key=False, proof=True), now=later)
    unknown = handshake.request_binding(home.plug(pev=KeyedPev("1HGCM82633A004352")), now=NOW)

    assert (rebound.state, unknown.state) == (State.BOUND, State.UNBOUND)
    assert not Notification.objects.exists()


def test_a_declined_plug_in_at_home_tells_the_owner_what_to_do(make_home, alice):
    home = make_home(alice)
    CommissioningWindow.objects.all().delete()

    binding = handshake.request_binding(home.plug(), now=NOW)

    assert (binding.state, binding.reason) == (State.UNBOUND, Binding.Reason.OUTSIDE_WINDOW)
    notification = Notification.objects.get()
    assert notification.kind == Kind.BINDING_FAILED
    assert notification.params["advice"] == "setup"
    subject, body = render(notification)
    assert subject == f"Your {home.enrollment.pev.description}'s charging was not recognised"
    assert "still charged, at your home's regular rate" in body
    assert "Check your set-up window: it has closed" in body
    assert f"/my/enrollments/{home.enrollment.pk}/commissioning/" in body
    assert "1-800-555-0150" in body

    again = handshake.request_binding(home.plug(), now=NOW)  # the ESCI retries the same plug-in
    assert again.pk == binding.pk
    assert Notification.objects.count() == 1


def test_a_plug_in_the_eumd_cannot_meter_says_to_call(make_home, make_device):
    home = make_home()
    stranger, _ = make_device("eumd")

    handshake.request_binding(home.plug(eumd=stranger), now=NOW)

    notification = Notification.objects.get()
    assert notification.params["advice"] == "call"
    _, body = render(notification)
    assert "Re-open your set-up window" not in body
    assert "Call us at 1-800-555-0150 and we will sort it out." in body


def finish_late(home, *, how):
    """Start commissioning at NOW and let the 60 s handshake run out; `how` notices the timeout."""
    binding = handshake.request_binding(home.plug(), now=NOW)
    late = NOW + dt.timedelta(minutes=5)
    if how == "read":
        assert handshake.binding_for(binding.pk, home.esci, now=late).state == State.TIMED_OUT
    elif how == "ack":
        with pytest.raises(handshake.Conflict):
            handshake.confirm_pev_ack(
                binding.pk,
                esci=home.esci,
                parameters_version=binding.parameters_version,
                pev_signature=home.pev.ack(binding.pk, binding.parameters_version),
                now=late,
            )
    elif how == "supersede":
        handshake.request_binding(home.plug(at=late), now=late)
    # The sweep, twice (beat runs it every 30 s); the superseding plug-in's own handshake is still running.
    handshake.expire_handshakes(late + dt.timedelta(seconds=10))
    handshake.expire_handshakes(late + dt.timedelta(seconds=40))
    return binding


@pytest.mark.parametrize("how", ["sweep", "read", "ack", "supersede"])
def test_a_handshake_that_timed_out_tells_the_owner_once(make_home, how):
    home = make_home()

    binding = finish_late(home, how=how)

    binding.refresh_from_db()
    assert binding.state == State.TIMED_OUT
    failed = Notification.objects.filter(kind=Kind.BINDING_FAILED)
    assert list(failed.values_list("dedupe_key", flat=True)) == [f"binding-failed:{binding.pk}"]
    notification = failed.get()
    assert notification.params["state"] == "timed_out"
    _, body = render(notification)
    assert "started setting up but did not finish in time" in body
    assert "Check your set-up window: it is open until" in body


def test_a_guest_session_tells_host_and_guest(make_home, alice, bob, mailoutbox):
    guest = make_home(bob, allow_roaming=True)
    guest.commission(at=NOW - dt.timedelta(days=1))
    host = make_home(alice, guest_charging=GuestCharging.HOST)
    Notification.objects.all().update(emailed_at=NOW)

    plug = host.plug(pev=guest.pev, key=False)
    plug = plug.__class__(
        **{**plug.__dict__, "pev_proof": guest.pev.proof(host.premise.premise_id, host.esci.lfdi, stamp(NOW))}
    )
    binding = handshake.request_binding(plug, now=NOW)
    handshake.request_binding(plug, now=NOW)  # retried

    assert binding.kind == Binding.Kind.GUEST
    told = Notification.objects.filter(kind__in=[Kind.GUEST_AT_PREMISE, Kind.GUEST_SESSION])
    assert sorted(told.values_list("kind", "account_id")) == [
        (Kind.GUEST_AT_PREMISE, host.premise.account_id),
        (Kind.GUEST_SESSION, guest.premise.account_id),
    ]
    assert send_pending_emails(now=NOW) == 2
    by_subject = {email.subject: email for email in mailoutbox}
    host_email = by_subject["A guest vehicle is charging at your home"]
    guest_email = by_subject["Your vehicle is charging as a guest"]
    assert host_email.to == sorted(["alice@example.com", host.premise.account.customer.email])
    assert guest_email.to == sorted(["bob@example.com", guest.premise.account.customer.email])
    assert "its charging is billed to your account" in host_email.body
    assert "The host pays for this charging session." in guest_email.body
