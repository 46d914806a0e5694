"""What the live panel shows and to whom (binding/live.py): the owner sees their vehicle with the VIN's last
six characters and the cost; a host sees a guest's session without its VIN; a declined session says it is
charging at the standard rate; sessions that are over, and other customers' sessions, are not shown."""

import datetime as dt
from decimal import Decimal

import pytest

from binding import handshake, live
from binding.handshake import PlugIn
from enrollment.models import GuestCharging
from tests.binding.pevs import KeyedPev
from tests.binding.test_handshake import Home, stamp
from tests.live.conftest import NOW
from tests.live.test_pev_status_api import record

LATER = NOW + dt.timedelta(minutes=5)


def visit(host: Home, guest: Home, *, at=NOW):
    """The guest's PEV plugs in at the host's premise with its proof."""
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


def test_it_shows_the_owner_their_bound_session_with_its_cost(home):
    binding = home.commission(at=NOW)
    record(binding, NOW + dt.timedelta(minutes=1), LATER, session_energy_wh=1_500, power_w=6_600)

    [panel] = live.live_panels([home.premise.account_id], now=LATER)

    assert panel["binding_id"] == str(binding.pk)
    assert panel["active"] is True
    assert panel["vin_last6"] == home.pev.vin[-6:]
    assert home.pev.vin not in str(panel), "never the whole VIN"
    assert panel["premise_address"] == home.premise.service_address
    assert (panel["binding_state"], panel["status"]) == ("bound", "charging_on_plan")
    assert panel["status_text"] == "Charging on your EV plan"
    assert (panel["power_kw"], panel["session_energy_kwh"], panel["state_of_charge"]) == (6.6, 1.5, 50.0)
    assert Decimal(panel["cost_so_far"]) == (Decimal("1.5") * Decimal(panel["price_per_kwh"])).quantize(
        Decimal("0.01")
    )
    assert panel["updated_at"] == "2026-11-26T10:01:00-08:00", "premise-local time"
    assert panel["period_label"]


def test_it_says_a_session_that_did_not_bind_charges_at_the_standard_rate(home):
    home.commission(at=NOW - dt.timedelta(days=1))
    spoofed = handshake.request_binding(home.plug(pev=KeyedPev(home.pev.vin), key=False, proof=True), now=NOW)
    record(spoofed, NOW + dt.timedelta(seconds=30), LATER, session_energy_wh=100)

    [panel] = live.live_panels([home.premise.account_id], now=LATER)

    assert panel["binding_state"] == "unbound"
    assert panel["status_text"] == "Charging at the standard rate — the car did not connect to the programme"
    assert panel["cost_so_far"] is not None, "the premise pays the default rate"


def test_a_handshake_past_its_deadline_shows_as_the_standard_rate(home):
    handshake.request_binding(home.plug(at=NOW), now=NOW)

    [connecting] = live.live_panels([home.premise.account_id], now=NOW + dt.timedelta(seconds=10))
    [timed_out] = live.live_panels([home.premise.account_id], now=NOW + dt.timedelta(minutes=2))

    assert connecting["status"] == "connecting"
    assert connecting["charging_state_label"] == "Waiting for the charger's first report"
    assert (timed_out["binding_state"], timed_out["status"]) == ("timed_out", "standard_rate")


@pytest.fixture
def guest(make_device, plan):
    guest = Home(make_device, plan=plan, allow_roaming=True)
    guest.commission(at=NOW - dt.timedelta(days=1))
    return guest


@pytest.mark.parametrize(
    ("preference", "host_sees", "guest_sees", "host_pays"),
    [
        (GuestCharging.HOST, "guest_on_your_plan", "guest_host_pays", True),
        (GuestCharging.GUEST, "guest_billed_to_owner", "guest_on_own_plan", False),
    ],
)
def test_a_host_sees_a_guest_session_without_its_vin(
    make_device, plan, guest, preference, host_sees, guest_sees, host_pays
):
    host = Home(make_device, plan=plan, guest_charging=preference)
    binding = visit(host, guest)
    record(binding, NOW + dt.timedelta(minutes=1), LATER, session_energy_wh=2_000)

    [at_host] = live.live_panels([host.premise.account_id], now=LATER)
    [as_guest] = live.live_panels([guest.premise.account_id], now=LATER)

    assert at_host["status"] == host_sees
    assert at_host["vin_last6"] is None
    assert guest.pev.vin[-6:] not in str(at_host)
    assert as_guest["status"] == guest_sees
    assert as_guest["vin_last6"] == guest.pev.vin[-6:]
    assert as_guest["premise_address"] == host.premise.service_address
    assert (at_host["cost_so_far"] is not None) is host_pays, "only the payer sees the cost"
    assert (as_guest["cost_so_far"] is not None) is not host_pays


def test_a_declined_guest_is_shown_to_the_host_only(make_device, plan, guest):
    host = Home(make_device, plan=plan, guest_charging=GuestCharging.DECLINED)
    visit(host, guest)

    [at_host] = live.live_panels([host.premise.account_id], now=LATER)

    assert at_host["status"] == "guest_at_standard_rate"
    assert at_host["vin_last6"] is None
    assert live.live_panels([guest.premise.account_id], now=LATER) == [], (
        "a plug-in that did not prove itself may be someone else using the VIN: no address for the owner"
    )


def test_it_shows_neither_sessions_that_are_over_nor_other_customers(home, make_device, plan):
    binding = home.commission(at=NOW)
    handshake.end_binding(binding.pk, esci=home.esci, unplugged_at=LATER, now=LATER)
    neighbour = Home(make_device, plan=plan)
    neighbour.commission(at=NOW)

    assert live.live_panels([home.premise.account_id], now=LATER) == []
    assert live.live_panels([], now=LATER) == []
    stale = Home(make_device, plan=plan)
    stale.commission(at=NOW)
    assert live.live_panels([stale.premise.account_id], now=NOW + dt.timedelta(hours=25)) == []


def test_it_builds_every_panel_in_one_query(make_device, plan, django_assert_num_queries):
    homes = [Home(make_device, plan=plan) for _ in range(3)]
    for number, home in enumerate(homes):
        binding = home.commission(at=NOW + dt.timedelta(seconds=number))
        record(binding, NOW + dt.timedelta(minutes=1), LATER, session_energy_wh=100)

    with django_assert_num_queries(1):
        panels = live.live_panels([home.premise.account for home in homes], now=LATER)

    assert len(panels) == 3


def test_the_page_values_are_formatted_for_people():
    panel = {
        "state_of_charge": 54.5,
        "power_kw": 6.6,
        "session_energy_kwh": 3.21,
        "time_to_complete_s": 4_801,
        "price_per_kwh": "0.25000",
        "period_label": "Off-Peak",
        "cost_so_far": "1.23",
        "updated_at": "2026-11-26T10:01:00-08:00",
    }

    shown = live.display(panel)

    assert shown["state_of_charge"] == "54.5 %"
    assert shown["power_kw"] == "6.6 kW"
    assert shown["session_energy_kwh"] == "3.21 kWh"
    assert shown["time_to_complete"] == "1 h 21 min"
    assert shown["price"] == "Off-Peak: $0.25 per kWh"
    assert shown["cost_so_far"] == "$1.23"
    assert shown["updated_at"] == "10:01 a.m."
