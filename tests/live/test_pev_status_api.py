"""`POST /device/v1/pev-status` (binding/api/status.py, binding/charging.py): the ESCI's signed report of the
PEV's charging status, kept once per binding, priced at the TOU price in force, never going backwards."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Tariff
from billing.schedule import price_segments
from binding import charging, handshake
from binding.models import Binding, DeviceKind, PevStatus
from tests.binding.pevs import KeyedPev
from tests.binding.test_binding_api import call, commission
from tests.binding.test_handshake import Home, stamp
from tests.live.conftest import NOW

PATH = "/device/v1/pev-status"


def report(binding_id, at=None, **fields) -> dict:
    return {
        "binding_id": str(binding_id),
        "reported_at": stamp(at or timezone.now()),
        "charging_state": "charging",
        "state_of_charge": 54.5,
        "power_w": 6600,
        "time_to_complete_s": 4800,
        "session_energy_wh": 1000,
        **fields,
    }


def post(client, home, body, *, device=None, key=None, headers=None):
    return call(client, device or home.esci, key or home.esci_key, "POST", PATH, body, headers)


def price_at(tariff: Tariff, at: dt.datetime) -> tuple[Decimal, str]:
    hour = at.replace(minute=0, second=0)
    [segment] = price_segments(tariff, hour, hour + dt.timedelta(hours=1))
    return segment.price, segment.period_label


def test_it_accepts_a_signed_status_and_keeps_it(client, home):
    binding_id, _, _ = commission(client, home)
    sent = report(binding_id)

    response = post(client, home, sent)

    assert response.status_code == 202, response.content
    assert response.json()["binding_id"] == binding_id
    assert response.json()["received_at"].endswith("Z")
    status = PevStatus.objects.get(binding_id=binding_id)
    assert (status.charging_state, status.state_of_charge) == ("charging", Decimal("54.5"))
    assert status.power_w == 6600
    assert (status.time_to_complete_s, status.session_energy_wh) == (4800, 1000)
    assert stamp(status.reported_at) == sent["reported_at"]
    price, label = price_at(home.enrollment.plan.tariff, status.reported_at)
    assert (status.price_per_kwh, status.period_label) == (price, label)
    assert status.cost_so_far == price, "1 kWh at the price in force"


def test_it_adds_each_increment_at_the_price_in_force_when_reported(home, plan):
    # Plugged in at 2 p.m. in Pasadena; reported at 3 p.m. (off-peak) and at 5 p.m. (on-peak, 4–9 p.m.).
    plugged_in_at = dt.datetime(2026, 11, 26, 22, 0, tzinfo=dt.UTC)
    binding = home.commission(at=plugged_in_at)
    first_at, second_at = plugged_in_at + dt.timedelta(hours=1), plugged_in_at + dt.timedelta(hours=3)
    now = second_at + dt.timedelta(seconds=1)

    record(binding, first_at, now, session_energy_wh=2_000)
    status = record(binding, second_at, now, session_energy_wh=5_500)

    off_peak, _ = price_at(plan.tariff, first_at)
    on_peak, on_peak_label = price_at(plan.tariff, second_at)
    assert on_peak > off_peak
    assert status.cost_so_far == Decimal("2.000") * off_peak + Decimal("3.500") * on_peak
    assert (status.price_per_kwh, status.period_label) == (on_peak, on_peak_label)


def test_it_ignores_an_older_or_equal_report_and_still_answers_202(client, home):
    binding_id, _, _ = commission(client, home)
    plugged_in_at = Binding.objects.get(pk=binding_id).plugged_in_at
    now = timezone.now().replace(microsecond=0)
    assert post(client, home, report(binding_id, now, session_energy_wh=3_000)).status_code == 202
    kept = PevStatus.objects.get(binding_id=binding_id)

    retried = post(client, home, report(binding_id, now, session_energy_wh=3_000))
    late = post(client, home, report(binding_id, plugged_in_at, session_energy_wh=1_000))

    assert (retried.status_code, late.status_code) == (202, 202)
    status = PevStatus.objects.get(binding_id=binding_id)
    assert (status.reported_at, status.session_energy_wh, status.cost_so_far) == (
        kept.reported_at,
        3_000,
        kept.cost_so_far,
    )


def test_it_replays_a_retry_with_the_same_idempotency_key(client, home):
    binding_id, _, _ = commission(client, home)
    body = report(binding_id)
    headers = {"Idempotency-Key": "status-1"}

    first = post(client, home, body, headers=headers)
    again = post(client, home, body, headers=headers)

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_it_does_not_find_another_escis_binding(client, home, make_device, plan):
    binding_id, _, _ = commission(client, home)
    neighbour = Home(make_device, plan=plan)

    foreign = post(client, neighbour, report(binding_id))
    unknown = post(client, home, report("00000000-0000-4000-8000-000000000000"))

    assert (foreign.status_code, unknown.status_code) == (404, 404)
    assert foreign.json()["error"] == "not_found"
    assert not PevStatus.objects.exists()


def test_it_refuses_a_report_once_the_pev_was_unplugged(client, home):
    binding_id, _, _ = commission(client, home)
    ended = call(
        client,
        home.esci,
        home.esci_key,
        "POST",
        f"/device/v1/bindings/{binding_id}/end",
        {"unplugged_at": stamp(timezone.now())},
    )
    assert ended.status_code == 200

    response = post(client, home, report(binding_id))

    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert "unplugged" in response.json()["detail"]
    assert not PevStatus.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"state_of_charge": 100.5}, "state_of_charge"),
        ({"state_of_charge": "50"}, "state_of_charge"),
        ({"power_w": -1}, "power_w"),
        ({"power_w": 6.5}, "power_w"),
        ({"session_energy_wh": True}, "session_energy_wh"),
        ({"time_to_complete_s": -60}, "time_to_complete_s"),
        ({"charging_state": "discharging"}, "charging_state"),
        ({"reported_at": "2026-11-26 18:00:00"}, "reported_at"),
        ({"binding_id": "not-a-uuid"}, "binding_id"),
    ],
)
def test_it_names_the_field_a_bad_report_gets_wrong(client, home, fields, field):
    binding_id, _, _ = commission(client, home)

    response = post(client, home, {**report(binding_id), **fields})

    assert response.status_code == 400
    assert response.json()["error"] == "malformed"
    assert list(response.json()["field_errors"]) == [field]
    assert not PevStatus.objects.exists()


def test_it_refuses_a_report_from_the_future_or_before_the_plug_in(client, home):
    binding_id, _, _ = commission(client, home)
    plugged_in_at = Binding.objects.get(pk=binding_id).plugged_in_at

    ahead = post(client, home, report(binding_id, timezone.now() + dt.timedelta(minutes=5)))
    before = post(client, home, report(binding_id, plugged_in_at - dt.timedelta(seconds=1)))

    assert (ahead.status_code, before.status_code) == (400, 400)
    assert "reported_at must lie between" in ahead.json()["detail"]
    assert not PevStatus.objects.exists()


def test_it_takes_reports_from_the_escis_of_the_binding_only(client, home):
    binding_id, _, _ = commission(client, home)

    from_eumd = post(client, home, report(binding_id), device=home.eumd, key=home.eumd_key)
    unsigned = client.post(PATH, report(binding_id), content_type="application/json")

    assert from_eumd.status_code == 403
    assert unsigned.status_code == 401
    assert not PevStatus.objects.exists()


def test_a_declined_session_still_reports_priced_at_the_premise_default_rate(client, home):
    # The premise is on TOU-D-PRIME by default; the plan would bill TOU-D-4-9PM.
    home.premise.default_tariff = Tariff.objects.get(code="SCE-TOU-D-PRIME")
    home.premise.save()
    commission(client, home)
    impostor = KeyedPev(home.pev.vin)
    at = timezone.now().replace(microsecond=0)
    plug = {
        "pev_id": impostor.vin,
        "premise_id": home.premise.premise_id,
        "eumd_lfdi": home.eumd.lfdi,
        "plugged_in_at": stamp(at),
        "pev_proof": impostor.proof(home.premise.premise_id, home.esci.lfdi, stamp(at)),
    }
    declined = call(client, home.esci, home.esci_key, "POST", "/device/v1/bindings", plug).json()
    assert declined["state"] == "unbound"

    response = post(client, home, report(declined["binding_id"], at))

    assert response.status_code == 202
    status = PevStatus.objects.get(binding_id=declined["binding_id"])
    assert status.price_per_kwh == price_at(home.premise.default_tariff, at)[0]


def test_it_prices_and_publishes_without_a_query_once_the_hour_is_cached(
    home, django_assert_num_queries, django_capture_on_commit_callbacks
):
    binding = home.commission(at=NOW)
    record(binding, NOW + dt.timedelta(seconds=10), NOW + dt.timedelta(seconds=20), session_energy_wh=10)

    # Lock and read the binding with the panel's relations, read its status, update the status; inside the
    # test's transaction the atomic block adds a savepoint and its release. No tariff query (the hour's
    # price is cached), and the panel is built from the locked binding.
    with django_assert_num_queries(5), django_capture_on_commit_callbacks(execute=True) as callbacks:
        record(binding, NOW + dt.timedelta(seconds=15), NOW + dt.timedelta(seconds=20), session_energy_wh=20)

    assert len(callbacks) == 1


def test_it_answers_a_handshake_refusal_for_a_stale_binding_with_409(home, plan):
    binding = home.commission(at=NOW)
    later = NOW + dt.timedelta(hours=25)

    with pytest.raises(handshake.Conflict, match="is over"):
        record(binding, later - dt.timedelta(seconds=1), later)


def record(binding, at, now, **fields) -> PevStatus:
    values = {
        "charging_state": "charging",
        "state_of_charge": Decimal("50.00"),
        "power_w": 6600,
        "time_to_complete_s": 3600,
        "session_energy_wh": 0,
        **fields,
    }
    return charging.record_status(
        charging.StatusReport(binding_id=binding.pk, reported_at=at, **values), esci=binding.esci, now=now
    )


def test_a_fresh_esci_of_another_kind_is_still_refused(client, home, make_device):
    binding_id, _, _ = commission(client, home)
    eumd, eumd_key = make_device(DeviceKind.EUMD, premise=home.premise)

    response = post(client, home, report(binding_id), device=eumd, key=eumd_key)

    assert response.status_code == 403
