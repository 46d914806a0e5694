"""The binding handshake as the domain sees it (binding/handshake.py): commissioning, re-binding, guests,
declines, timeouts and the end of a session. The device API tests drive the same functions over HTTP."""

import datetime as dt
import logging

import pytest
from django.db import IntegrityError, transaction

from binding import handshake, jws
from binding.handshake import PlugIn
from binding.models import Binding, BindingEvent, DeviceKind, PevKey
from enrollment.models import CommissioningWindow, Enrollment, GuestCharging, ServicePlan
from pevportal.models import AuditRecord
from pevportal.tasks import send_notification_emails
from tests.binding.pevs import KeyedPev
from tests.factories import EnrollmentFactory, PevFactory, PremiseFactory

NOW = dt.datetime(2026, 11, 26, 18, 0, 0, tzinfo=dt.UTC)
State = Binding.State


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Home:
    """A premise with its ESCI and EUMD, and a PEV enrolled there in a commissioning window."""

    def __init__(
        self, make_device, *, plan, guest_charging=GuestCharging.DECLINED, allow_roaming=False, **kw
    ):
        self.premise = PremiseFactory(default_tariff=plan.tariff)
        self.esci, self.esci_key = make_device(DeviceKind.ESCI, premise=self.premise)
        self.eumd, self.eumd_key = make_device(DeviceKind.EUMD, premise=self.premise)
        pev = PevFactory()
        self.pev = KeyedPev(pev.vin)
        self.enrollment = EnrollmentFactory(
            pev=pev,
            premise=self.premise,
            plan=plan,
            guest_charging=guest_charging,
            allow_roaming=allow_roaming,
            **kw,
        )
        CommissioningWindow.objects.create(
            enrollment=self.enrollment,
            opens_at=NOW - dt.timedelta(days=1),
            closes_at=NOW + dt.timedelta(days=13),
            reason="enrolled",
        )

    def plug(self, *, at=NOW, pev=None, esci=None, key=True, proof=False, premise_id=None, eumd=None):
        pev = pev or self.pev
        esci = esci or self.esci
        premise_id = premise_id or esci.premise.premise_id
        return PlugIn(
            esci=esci,
            vin=pev.vin,
            premise_id=premise_id,
            eumd_lfdi=(eumd or self.eumd).lfdi,
            plugged_in_at=at,
            plugged_in_at_text=stamp(at),
            pev_public_key=pev.jwk if key else None,
            pev_proof=pev.proof(premise_id, esci.lfdi, stamp(at)) if proof else None,
        )

    def commission(self, *, at=NOW):
        binding = handshake.request_binding(self.plug(at=at), now=at)
        version = binding.parameters_version
        signature = self.pev.ack(binding.pk, version)
        handshake.confirm_pev_ack(
            binding.pk, esci=self.esci, parameters_version=version, pev_signature=signature, now=at
        )
        binding, _ = handshake.confirm_eumd_ack(
            binding.pk,
            eumd=self.eumd,
            parameters_version=version,
            interval_seconds=binding.response["interval_seconds"],
            now=at + dt.timedelta(seconds=2),
        )
        return binding


@pytest.fixture
def plan(sce_programs):
    return ServicePlan.objects.select_related("tariff", "program").get(code="ev-standard")


@pytest.fixture
def home(make_device, plan):
    return Home(make_device, plan=plan)


def test_it_commissions_a_first_plug_in_in_three_steps(home):
    binding = handshake.request_binding(home.plug(), now=NOW)

    assert binding.state == State.AWAITING_PEV_ACK
    assert binding.kind == Binding.Kind.COMMISSIONING
    parameters = jws.verify(binding.response["pev_parameters"])
    assert parameters["pev_id"] == home.pev.vin
    assert parameters["plan"] == "ev-standard"
    assert parameters["cnf"]["jwk"] == home.pev.jwk
    assert parameters["price_schedule"], "the next 7 days of prices"
    assert parameters["parameters_version"] == binding.parameters_version

    version = binding.parameters_version
    binding, signed_discovery = handshake.confirm_pev_ack(
        binding.pk,
        esci=home.esci,
        parameters_version=version,
        pev_signature=home.pev.ack(binding.pk, version),
        now=NOW,
    )
    assert binding.state == State.AWAITING_EUMD_ACK
    discovery = jws.verify(signed_discovery)
    assert discovery["eumd_lfdi"] == home.eumd.lfdi
    assert discovery["interval_seconds"] == 900

    binding, confirmation = handshake.confirm_eumd_ack(
        binding.pk, eumd=home.eumd, parameters_version=version, interval_seconds=900, now=NOW
    )
    assert binding.state == State.BOUND
    assert jws.verify(confirmation)["binding_id"] == str(binding.pk)
    assert binding.response["state"] == "awaiting_pev_ack", "a retried plug-in still gets its original answer"
    home.enrollment.refresh_from_db()
    assert home.enrollment.status == Enrollment.Status.ACTIVE
    assert PevKey.objects.get(pev__vin=home.pev.vin, revoked_at__isnull=True).public_jwk == home.pev.jwk
    assert home.enrollment.commissioning_window(NOW + dt.timedelta(seconds=1)) is None
    assert AuditRecord.objects.filter(action="enrollment.commissioned").count() == 1
    assert list(binding.events.values_list("event", flat=True)) == [
        "plug_in",
        "parameters_sent",
        "pev_ack",
        "eumd_discovery_sent",
        "eumd_ack",
        "bound",
    ]


def test_it_rebinds_a_commissioned_pev_at_once_with_its_proof(home):
    first = home.commission()
    later = NOW + dt.timedelta(hours=5)
    handshake.end_binding(first.pk, esci=home.esci, unplugged_at=later - dt.timedelta(hours=1), now=later)

    binding = handshake.request_binding(home.plug(at=later, key=False, proof=True), now=later)

    assert binding.state == State.BOUND
    assert binding.kind == Binding.Kind.REBINDING
    assert binding.billed_enrollment == home.enrollment
    assert jws.verify(binding.response["eumd_confirmation"])["eumd_lfdi"] == home.eumd.lfdi
    assert jws.verify(binding.response["pev_confirmation"])["pev_id"] == home.pev.vin


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("no_proof", Binding.Reason.MISSING_PROOF),
        ("bad_proof", Binding.Reason.BAD_PROOF),
        ("proof_for_other_premise", Binding.Reason.BAD_PROOF),
        ("spoofed_vin_with_own_key", Binding.Reason.BAD_PROOF),
    ],
)
def test_it_declines_a_rebinding_without_a_valid_proof(home, change, reason):
    home.commission()
    later = NOW + dt.timedelta(hours=5)
    plug = home.plug(at=later, key=False, proof=True)
    if change == "no_proof":
        plug = home.plug(at=later, key=False)
    elif change == "bad_proof":
        plug = PlugIn(**{**plug.__dict__, "pev_proof": plug.pev_proof[:-4] + "AAAA"})
    elif change == "proof_for_other_premise":
        plug = PlugIn(
            **{**plug.__dict__, "pev_proof": home.pev.proof("P99999999", home.esci.lfdi, stamp(later))}
        )
    else:
        impostor = KeyedPev(home.pev.vin)
        plug = home.plug(at=later, pev=impostor, key=False, proof=True)

    binding = handshake.request_binding(plug, now=later)

    assert binding.state == State.UNBOUND
    assert binding.reason == reason
    assert binding.response == {
        "binding_id": str(binding.pk),
        "state": "unbound",
        "plugged_in_at": stamp(later),
        "reason": "not_validated",
        "fallback": "premise_default_rate",
    }


def test_it_tells_a_device_nothing_about_why_it_declined(home, make_device):
    unknown = KeyedPev("1HGCM82633A004352")
    stranger = handshake.request_binding(home.plug(pev=unknown, key=False, proof=True), now=NOW)
    enrolled = handshake.request_binding(
        home.plug(at=NOW - dt.timedelta(seconds=1), key=False, proof=True), now=NOW
    )

    assert stranger.reason == Binding.Reason.UNKNOWN_VIN
    assert enrolled.reason == Binding.Reason.NOT_COMMISSIONED
    assert set(stranger.response) == set(enrolled.response)
    assert stranger.response["reason"] == enrolled.response["reason"] == "not_validated"


def test_the_log_names_each_declined_plug_in_with_its_reason_and_leaves_bindings_to_the_event_log(
    home, caplog
):
    caplog.set_level(logging.INFO)
    first = home.commission()
    later = NOW + dt.timedelta(hours=5)
    handshake.end_binding(first.pk, esci=home.esci, unplugged_at=later - dt.timedelta(hours=1), now=later)

    declined = handshake.request_binding(home.plug(at=later, key=False), now=later)
    again = later + dt.timedelta(seconds=1)
    bound = handshake.request_binding(home.plug(at=again, key=False, proof=True), now=again)

    logged = [
        r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg["event"] == "binding.requested"
    ]
    assert bound.state == State.BOUND
    assert [(entry["binding"], entry["state"], entry["reason"]) for entry in logged] == [
        (str(declined.pk), State.UNBOUND, Binding.Reason.MISSING_PROOF)
    ]
    assert BindingEvent.objects.filter(binding=bound, event="bound").exists()


def test_it_commissions_only_inside_the_window(home):
    CommissioningWindow.objects.update(closes_at=NOW - dt.timedelta(minutes=1))

    binding = handshake.request_binding(home.plug(), now=NOW)

    assert (binding.state, binding.reason) == (State.UNBOUND, Binding.Reason.OUTSIDE_WINDOW)


def test_it_declines_an_ended_enrollment_and_an_eumd_of_another_premise(home, make_device):
    elsewhere, _ = make_device(DeviceKind.EUMD)
    foreign_eumd = handshake.request_binding(home.plug(eumd=elsewhere), now=NOW)
    home.enrollment.status = Enrollment.Status.ENDED
    home.enrollment.save()
    ended = handshake.request_binding(home.plug(at=NOW - dt.timedelta(seconds=1)), now=NOW)

    assert foreign_eumd.reason == Binding.Reason.EUMD_UNAVAILABLE
    assert ended.reason == Binding.Reason.NOT_ENROLLED


def test_it_refuses_an_esci_binding_for_another_premise(home):
    with pytest.raises(handshake.ForeignPremise):
        handshake.request_binding(home.plug(premise_id="P99999999"), now=NOW)
    assert not Binding.objects.exists()


@pytest.mark.parametrize("offset", [-61, 6])
def test_it_refuses_a_plug_in_time_backdated_or_in_the_future(home, offset):
    with pytest.raises(handshake.InvalidRequest, match="plugged_in_at"):
        handshake.request_binding(home.plug(at=NOW + dt.timedelta(seconds=offset)), now=NOW)
    assert not Binding.objects.exists()


def test_it_returns_the_original_binding_when_the_esci_retries(home):
    first = handshake.request_binding(home.plug(), now=NOW)
    again = handshake.request_binding(home.plug(), now=NOW + dt.timedelta(seconds=3))

    assert again.pk == first.pk
    assert again.response == first.response
    assert Binding.objects.count() == 1


def test_it_accepts_each_proof_once(home):
    home.commission()
    later = NOW + dt.timedelta(hours=5)
    plug = home.plug(at=later, key=False, proof=True)
    session = handshake.request_binding(plug, now=later)
    handshake.end_binding(session.pk, esci=home.esci, unplugged_at=later, now=later)

    # The proof signs the plug-in time, so a replay is the same plug-in: it gets the ended session back,
    # never a new bound one.
    replay = handshake.request_binding(plug, now=later + dt.timedelta(seconds=40))

    assert replay.pk == session.pk
    assert replay.state == State.ENDED
    assert Binding.objects.filter(kind=Binding.Kind.REBINDING).count() == 1


def test_it_times_out_a_handshake_past_its_deadline_and_refuses_late_acks(home):
    binding = handshake.request_binding(home.plug(), now=NOW)
    late = NOW + dt.timedelta(seconds=61)

    assert binding.effective_state(late) == State.TIMED_OUT
    version = binding.parameters_version
    with pytest.raises(handshake.Conflict, match="timed_out"):
        handshake.confirm_pev_ack(
            binding.pk,
            esci=home.esci,
            parameters_version=version,
            pev_signature=home.pev.ack(binding.pk, version),
            now=late,
        )
    binding.refresh_from_db()
    assert binding.state == State.TIMED_OUT
    assert binding.finished_at == binding.deadline
    assert list(binding.events.values_list("event", flat=True))[-3:] == [
        "pev_ack",
        "timed_out",
        "ack_refused",
    ]


def test_it_sweeps_expired_handshakes(home, make_device):
    stale = handshake.request_binding(home.plug(), now=NOW)
    other = Home(make_device, plan=home.enrollment.plan)
    fresh = handshake.request_binding(
        other.plug(at=NOW + dt.timedelta(seconds=30)), now=NOW + dt.timedelta(seconds=30)
    )

    assert handshake.expire_handshakes(NOW + dt.timedelta(seconds=61)) == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.state == State.TIMED_OUT
    assert fresh.state == State.AWAITING_PEV_ACK
    assert BindingEvent.objects.filter(binding=stale, event="timed_out").exists()


def test_it_refuses_acks_on_another_escis_binding(home, make_device):
    binding = handshake.request_binding(home.plug(), now=NOW)
    other = Home(make_device, plan=home.enrollment.plan)

    with pytest.raises(handshake.BindingNotFound):
        handshake.confirm_pev_ack(
            binding.pk, esci=other.esci, parameters_version="x", pev_signature="x", now=NOW
        )
    with pytest.raises(handshake.BindingNotFound):
        handshake.confirm_eumd_ack(
            binding.pk, eumd=other.eumd, parameters_version="x", interval_seconds=900, now=NOW
        )


def test_it_refuses_acks_on_a_binding_that_is_not_commissioning(home):
    bound = home.commission()
    later = NOW + dt.timedelta(hours=1)
    rebound = handshake.request_binding(home.plug(at=later, key=False, proof=True), now=later)

    with pytest.raises(handshake.Conflict, match="nothing to acknowledge"):
        handshake.confirm_pev_ack(
            rebound.pk,
            esci=home.esci,
            parameters_version=rebound.parameters_version,
            pev_signature=home.pev.ack(rebound.pk, rebound.parameters_version),
            now=later,
        )
    assert bound.pk != rebound.pk


def test_it_refuses_a_pev_ack_signed_with_another_key(home):
    binding = handshake.request_binding(home.plug(), now=NOW)
    version = binding.parameters_version

    with pytest.raises(handshake.InvalidRequest, match="pev_signature"):
        handshake.confirm_pev_ack(
            binding.pk,
            esci=home.esci,
            parameters_version=version,
            pev_signature=KeyedPev(home.pev.vin).ack(binding.pk, version),
            now=NOW,
        )
    binding.refresh_from_db()
    assert binding.state == State.AWAITING_PEV_ACK


def test_it_supersedes_the_earlier_binding_when_the_pev_plugs_in_again(home):
    first = home.commission()
    later = NOW + dt.timedelta(hours=2)

    second = handshake.request_binding(home.plug(at=later, key=False, proof=True), now=later)

    first.refresh_from_db()
    assert first.state == State.SUPERSEDED
    assert second.state == State.BOUND
    assert Binding.objects.live().filter(pev__vin=home.pev.vin).count() == 1


def test_it_never_lets_a_spoofed_plug_in_end_the_owners_session(home, make_device):
    bound = home.commission()
    thief = Home(make_device, plan=home.enrollment.plan)
    later = NOW + dt.timedelta(minutes=10)

    spoof = handshake.request_binding(
        thief.plug(at=later, pev=KeyedPev(home.pev.vin), key=False, proof=True), now=later
    )

    bound.refresh_from_db()
    assert spoof.state == State.UNBOUND
    assert bound.state == State.BOUND


def test_the_database_admits_one_live_binding_per_pev(home):
    first = home.commission()

    with pytest.raises(IntegrityError), transaction.atomic():
        Binding.objects.create(
            esci=home.esci,
            eumd_lfdi=home.eumd.lfdi,
            vin=home.pev.vin,
            pev=first.pev,
            premise=home.premise,
            state=State.BOUND,
            plugged_in_at=NOW + dt.timedelta(minutes=1),
            deadline=NOW + dt.timedelta(minutes=2),
            response={},
        )


def test_it_ends_a_session_once_and_closes_one_never_ended(home):
    bound = home.commission()
    ended = handshake.end_binding(
        bound.pk, esci=home.esci, unplugged_at=NOW + dt.timedelta(hours=1), now=NOW + dt.timedelta(hours=1)
    )
    again = handshake.end_binding(
        bound.pk, esci=home.esci, unplugged_at=NOW + dt.timedelta(hours=2), now=NOW + dt.timedelta(hours=2)
    )

    assert ended.state == State.ENDED
    assert again.unplugged_at == NOW + dt.timedelta(hours=1)

    later = NOW + dt.timedelta(days=2)
    rebound = handshake.request_binding(home.plug(at=later, key=False, proof=True), now=later)
    assert rebound.effective_state(later + dt.timedelta(hours=25)) == State.CLOSED
    assert handshake.close_stale_bindings(later + dt.timedelta(hours=25)) == 1
    rebound.refresh_from_db()
    assert rebound.state == State.CLOSED


class TestGuests:
    @pytest.fixture
    def guest(self, make_device, plan):
        guest = Home(make_device, plan=plan, allow_roaming=True)
        guest.commission(at=NOW - dt.timedelta(days=1))
        return guest

    def visit(self, host, guest, *, at=NOW):
        plug = PlugIn(
            esci=host.esci,
            vin=guest.pev.vin,
            premise_id=host.premise.premise_id,
            eumd_lfdi=host.eumd.lfdi,
            plugged_in_at=at,
            plugged_in_at_text=stamp(at),
            pev_proof=guest.pev.proof(host.premise.premise_id, host.esci.lfdi, stamp(at)),
        )
        return handshake.request_binding(plug, now=at)

    @pytest.mark.parametrize(
        ("preference", "billed_to"), [(GuestCharging.HOST, "host"), (GuestCharging.GUEST, "guest")]
    )
    def test_it_binds_a_roaming_guest_billed_as_the_host_chose(
        self,
        make_device,
        plan,
        guest,
        preference,
        billed_to,
        mailoutbox,
        monkeypatch,
        django_capture_on_commit_callbacks,
    ):
        host = Home(make_device, plan=plan, guest_charging=preference)
        queued = []
        monkeypatch.setattr(send_notification_emails, "apply_async", lambda **options: queued.append(options))
        with django_capture_on_commit_callbacks(execute=True):
            binding = self.visit(host, guest)

        assert (binding.state, binding.kind) == (State.BOUND, Binding.Kind.GUEST)
        expected = host.enrollment if billed_to == "host" else guest.enrollment
        assert binding.billed_enrollment == expected
        assert len(queued) == 1, "the emails go through Celery, after the commit"
        send_notification_emails()
        told = sorted(email.subject for email in mailoutbox if "guest" in email.subject)
        assert told == [
            "A guest vehicle is charging at your home",
            "Your vehicle is charging as a guest",
        ], "host and guest are both told"

    def test_it_declines_a_guest_the_host_does_not_admit(self, make_device, plan, guest):
        declined = Home(make_device, plan=plan, guest_charging=GuestCharging.DECLINED)
        listed = Home(
            make_device, plan=plan, guest_charging=GuestCharging.HOST, guest_vins=["1HGCM82633A004352"]
        )

        assert self.visit(declined, guest).reason == Binding.Reason.GUEST_DECLINED
        assert (
            self.visit(listed, guest, at=NOW + dt.timedelta(seconds=1)).reason
            == Binding.Reason.GUEST_DECLINED
        )

    def test_it_declines_a_guest_whose_owner_does_not_allow_roaming(self, make_device, plan, guest):
        Enrollment.objects.filter(pk=guest.enrollment.pk).update(allow_roaming=False)
        host = Home(make_device, plan=plan, guest_charging=GuestCharging.HOST)

        assert self.visit(host, guest).reason == Binding.Reason.ROAMING_NOT_ALLOWED


def test_it_answers_every_vin_alike_whatever_its_plan_timeout(home):
    ServicePlan.objects.filter(pk=home.enrollment.plan_id).update(binding_timeout_seconds=120)
    home.enrollment.plan.refresh_from_db()
    at = NOW - dt.timedelta(seconds=90)
    unknown = handshake.request_binding(home.plug(at=at, pev=KeyedPev("1HGCM82633A004352")), now=NOW)

    assert unknown.state == State.UNBOUND, "no 400 for an unknown VIN where an enrolled one is accepted"
    with pytest.raises(handshake.InvalidRequest, match="within the last 120 s"):
        handshake.request_binding(home.plug(at=NOW - dt.timedelta(seconds=121)), now=NOW)
    with pytest.raises(handshake.InvalidRequest, match="within the last 120 s"):
        handshake.request_binding(
            home.plug(at=NOW - dt.timedelta(seconds=121), pev=KeyedPev("1HGCM82633A004352")), now=NOW
        )


def test_it_declines_a_plug_in_reported_after_its_plan_timeout(home, make_device):
    Home(make_device, plan=ServicePlan.objects.get(code="ev-prime"))
    ServicePlan.objects.filter(code="ev-prime").update(binding_timeout_seconds=120)

    late = handshake.request_binding(home.plug(at=NOW - dt.timedelta(seconds=90)), now=NOW)

    assert (late.state, late.reason) == (State.UNBOUND, Binding.Reason.LATE_PLUG_IN)
    assert late.response["reason"] == "not_validated"
    assert late.handshake_deadline is None, "a declined binding shows no deadline (it would tell the plan)"


def test_it_declines_a_plug_in_older_than_the_live_one(home):
    home.commission()
    later = NOW + dt.timedelta(hours=1)
    live = handshake.request_binding(home.plug(at=later, key=False, proof=True), now=later)

    stale = handshake.request_binding(
        home.plug(at=later - dt.timedelta(seconds=10), key=False, proof=True), now=later
    )

    live.refresh_from_db()
    assert (stale.state, stale.reason) == (State.UNBOUND, Binding.Reason.OUT_OF_ORDER)
    assert live.state == State.BOUND


def test_a_session_closed_after_a_day_finished_a_day_after_plug_in(home):
    bound = home.commission()
    much_later = NOW + dt.timedelta(hours=30)

    handshake.close_stale_bindings(much_later)

    bound.refresh_from_db()
    assert bound.finished_at == bound.plugged_in_at + dt.timedelta(hours=24)


def test_the_esci_that_replaced_a_failed_one_ends_its_sessions(home, carol_csr):
    from binding.ca import issue_key_and_certificate
    from binding.devices import swap_device

    bound = home.commission()
    _, certificate = issue_key_and_certificate("replacement")
    replacement = swap_device(home.esci, certificate, carol_csr)

    ended = handshake.end_binding(
        bound.pk,
        esci=replacement,
        unplugged_at=NOW + dt.timedelta(minutes=5),
        now=NOW + dt.timedelta(minutes=5),
    )

    assert ended.state == State.ENDED
