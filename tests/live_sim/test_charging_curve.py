"""The simulator's charging curve: a home charge as the ESCI reports it — the power ramps up, holds, tapers
near full; the state of charge rises; the energy is the integral of the power; the time to complete counts
down to `complete` (binding/simulator/status.py)."""

import datetime as dt

import pytest

from binding.simulator import SimulatorError
from binding.simulator.status import ChargingCurve, curve_reads

LEAF = ChargingCurve()  # 40 kWh, 6.6 kW, from 30 % to full


def test_it_ramps_up_then_holds_the_chargers_power():
    first, ramped, later = (LEAF.status(seconds) for seconds in (0, LEAF.ramp_seconds, 3600))

    assert first.charging_state == "charging"
    assert 0 < first.power_w < ramped.power_w == later.power_w == LEAF.max_power_w


def test_it_tapers_near_full_and_completes():
    statuses = list(LEAF.statuses(600, until_seconds=LEAF.duration_seconds + 1200))
    charging = [s for s in statuses if s.charging_state == "charging"]
    tapering = [s for s in charging if s.state_of_charge > LEAF.taper_from_soc + 1]

    assert tapering, "the last stretch is the taper"
    assert all(s.power_w < LEAF.max_power_w for s in tapering)
    assert [s.power_w for s in tapering] == sorted((s.power_w for s in tapering), reverse=True)
    assert statuses[-1].charging_state == "complete"
    last = statuses[-1]
    assert (last.state_of_charge, last.power_w, last.time_to_complete_s) == (100, 0, 0)


def test_its_state_of_charge_rises_and_its_time_to_complete_counts_down():
    statuses = [s for s in LEAF.statuses(300, until_seconds=LEAF.duration_seconds) if s.elapsed_s > 0]

    socs = [s.state_of_charge for s in statuses]
    remaining = [s.time_to_complete_s for s in statuses]
    assert socs == sorted(socs)
    assert socs[0] > LEAF.start_soc
    assert remaining == sorted(remaining, reverse=True)
    ends = {round(s.elapsed_s + s.time_to_complete_s) for s in statuses}
    assert ends <= {LEAF.duration_seconds, LEAF.duration_seconds + 1}


def test_its_energy_is_the_integral_of_its_power():
    step = 60
    integral = sum(LEAF.status(t).power_w * step / 3600 for t in range(0, LEAF.duration_seconds, step))

    assert LEAF.energy_wh == pytest.approx(integral, rel=0.01)
    # The battery stores what it drew less the losses: 70 % of 40 kWh.
    assert LEAF.energy_wh * LEAF.efficiency == pytest.approx(0.70 * LEAF.capacity_wh, rel=0.001)


def test_it_runs_faster_than_the_wall_clock_with_a_speed():
    fast = LEAF.status(60, speed=100)

    assert fast.session_energy_wh == LEAF.status(6000).session_energy_wh
    assert fast.time_to_complete_s == pytest.approx((LEAF.duration_seconds - 6000) / 100, abs=1)
    assert LEAF.status(LEAF.duration_seconds / 100, speed=100).charging_state == "complete"


def test_it_waits_idle_under_a_charging_timer():
    timed = ChargingCurve(idle_seconds=1800)

    idle = timed.status(600)
    assert (idle.charging_state, idle.power_w, idle.session_energy_wh) == ("idle", 0, 0)
    assert idle.time_to_complete_s == timed.duration_seconds - 600
    assert timed.status(1800 + 3600).charging_state == "charging"


def test_its_reads_hold_the_energy_of_each_interval_on_the_wall_clock():
    plugged = dt.datetime(2026, 3, 2, 22, 7, 30, tzinfo=dt.UTC)
    unplugged = plugged + dt.timedelta(hours=2)

    reads = curve_reads(LEAF, plugged, unplugged, 900)

    assert reads[0].interval_start == dt.datetime(2026, 3, 2, 22, 0, tzinfo=dt.UTC)
    assert len(reads) == 9  # 22:00 (from 22:07:30) … 00:00 (to 00:07:30)
    assert reads[1].wh == pytest.approx(LEAF.max_power_w / 4, abs=1)  # a whole interval at 6.6 kW
    drawn = LEAF.status(7200).session_energy_wh
    assert sum(read.wh for read in reads) == pytest.approx(drawn, abs=len(reads))


@pytest.mark.parametrize(
    "arguments",
    [{"start_soc": 90, "target_soc": 80}, {"start_soc": -1}, {"efficiency": 0}, {"tapered_to": 0}],
)
def test_it_refuses_a_curve_that_cannot_be(arguments):
    with pytest.raises(SimulatorError):
        ChargingCurve(**arguments)
