"""enroll(): the one validation every channel shares, and what completing an enrollment sets up
(scenario 1 steps 1–4; Req 3, 4; BR.1)."""

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from billing.models import Tariff
from enrollment.enrolling import COMMISSIONING_WINDOW, EnrollmentRequest, enroll, request_transfer
from enrollment.models import AccountLink, Enrollment, GuestCharging, ServicePlan, TransferRequest
from pevportal.models import AuditRecord
from tests.factories import PremiseFactory

VIN = "1HGCM82633A004352"


@pytest.fixture
def home(sce_programs, alice):
    premise = PremiseFactory(default_tariff=Tariff.objects.get(code="SCE-TOU-D-4-9PM"))
    AccountLink.objects.create(user=alice, account=premise.account, method="verified")
    return premise


def request_for(home, premise_override=None, **overrides) -> EnrollmentRequest:
    return EnrollmentRequest(
        **{
            "account": home.account,
            "premise": premise_override or home,
            "vin": VIN,
            "plan": ServicePlan.objects.get(code="ev-prime"),
            **overrides,
        }
    )


def errors_of(excinfo) -> dict:
    return {field: [e.code for e in errors] for field, errors in excinfo.value.error_dict.items()}


def test_it_enrolls_and_opens_a_commissioning_window(home, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        enrollment = enroll(request_for(home, vin=" 1hgcm8-2633a004352 "), channel="web", actor=alice)

    assert enrollment.status == Enrollment.Status.PENDING_COMMISSIONING
    assert enrollment.pev.vin == VIN
    assert enrollment.pev.make == "Honda"
    window = enrollment.commissioning_window(timezone.now())
    assert window.closes_at - window.opens_at == COMMISSIONING_WINDOW
    assert enrollment.plan_on(timezone.now()).code == "ev-prime"
    record = AuditRecord.objects.get(action="enrollment.created")
    assert (record.actor, record.channel, record.after["pev"]) == (alice, "web", enrollment.pev_id)
    [email] = mail.outbox
    assert "plug" in email.body.lower()
    assert f"http://127.0.0.1:8000/my/enrollments/{enrollment.pk}/" in email.body
    assert alice.email in email.to


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"vin": "1HGCM82633A00435"}, "vin", "vin_length"),
        ({"vin": "1HGCM8263IA004352"}, "vin", "vin_characters"),
        ({"vin": "1HGCM82633A004353"}, "vin", "vin_check_digit"),
        ({"guest_charging": "everyone"}, "guest_charging", "invalid_choice"),
        ({"guest_vins": ["1M8GDM9AXKP042788"]}, "guest_vins", "guests_declined"),
        ({"guest_charging": GuestCharging.HOST, "guest_vins": [VIN]}, "guest_vins", "guest_vin"),
        ({"guest_charging": GuestCharging.HOST, "guest_vins": ["NOTAVIN"]}, "guest_vins", "guest_vin"),
    ],
)
def test_it_refuses_bad_input_with_the_field_and_changes_nothing(home, alice, overrides, field, code):
    with pytest.raises(ValidationError) as excinfo:
        enroll(request_for(home, **overrides), channel="web", actor=alice)

    assert code in errors_of(excinfo)[field]
    assert not Enrollment.objects.exists()
    assert not AuditRecord.objects.filter(action="enrollment.created").exists()


def test_it_refuses_a_premise_on_another_account(home, alice):
    elsewhere = PremiseFactory(default_tariff=home.default_tariff)

    with pytest.raises(ValidationError) as excinfo:
        enroll(request_for(home, premise_override=elsewhere), channel="web", actor=alice)

    assert errors_of(excinfo) == {"premise": ["premise_account"]}


def test_it_refuses_a_plan_not_offered_at_the_premise(sce_programs, alice):
    other_tariff_home = PremiseFactory(default_tariff=Tariff.objects.get(code="SCE-TOU-D-PRIME"))

    with pytest.raises(ValidationError) as excinfo:
        enroll(request_for(other_tariff_home), channel="web", actor=alice)

    assert errors_of(excinfo) == {"plan": ["plan_not_eligible"]}


def test_it_refuses_a_vin_that_is_already_enrolled(home, alice, bob):
    enroll(request_for(home), channel="web", actor=alice)
    bobs_home = PremiseFactory(default_tariff=home.default_tariff)

    with pytest.raises(ValidationError) as excinfo:
        enroll(request_for(bobs_home), channel="web", actor=bob)

    assert errors_of(excinfo) == {"vin": ["vin_enrolled"]}
    assert "transfer" in excinfo.value.error_dict["vin"][0].message


def test_it_files_a_transfer_request_for_a_sold_vehicle(home, alice, bob):
    enroll(request_for(home), channel="web", actor=alice)
    bobs_home = PremiseFactory(default_tariff=home.default_tariff)

    transfer = request_transfer(request_for(bobs_home), user=bob, channel="web")
    again = request_transfer(request_for(bobs_home), user=bob, channel="web")

    assert transfer == again
    assert transfer.status == TransferRequest.Status.PENDING
    assert Enrollment.objects.current().get().account == home.account


def test_it_keeps_guest_lists_normalised_and_unique(home, alice):
    enrollment = enroll(
        request_for(
            home,
            guest_charging=GuestCharging.HOST,
            guest_vins=["1m8gdm9axkp042788", "1M8GDM9AXKP042788", " "],
            allow_roaming=True,
        ),
        channel="phone",
        actor=alice,
    )

    assert enrollment.guest_vins == ["1M8GDM9AXKP042788"]
    assert enrollment.allow_roaming is True


def test_it_lets_a_vin_enroll_again_once_its_enrollment_ended(home, alice):
    first = enroll(request_for(home), channel="web", actor=alice)
    Enrollment.objects.filter(pk=first.pk).update(status=Enrollment.Status.ENDED, effective_to=timezone.now())

    second = enroll(request_for(home), channel="web", actor=alice)

    assert second.pk != first.pk
    assert second.pev_id == first.pev_id


def test_it_shows_customers_only_their_own_enrollments(home, alice, bob):
    enrollment = enroll(request_for(home), channel="web", actor=alice)

    assert list(Enrollment.objects.for_user(alice)) == [enrollment]
    assert not Enrollment.objects.for_user(bob).exists()


def test_it_measures_the_window_from_enrollment(home, alice):
    enrollment = enroll(request_for(home), channel="web", actor=alice)

    assert (
        enrollment.commissioning_window(timezone.now() + COMMISSIONING_WINDOW + dt.timedelta(seconds=1))
        is None
    )
