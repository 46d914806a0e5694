"""The ESCI's PEV status reports (the use case's Customer Energy Management System, Req 17, 24): a charging
curve that models a home charge, the signed `POST /device/v1/pev-status`, and a session that reports its
status every few seconds while the PEV is plugged in.

`ChargingCurve` is a Level 2 charge as a battery takes it: the power ramps up over the first seconds, holds
the charger's limit (constant current) and tapers above `taper_from_soc` (constant voltage) until the target;
the state of charge rises by the energy stored (`efficiency` of the energy drawn), the session's energy is
the integral of the power drawn, and the time to complete is what is left of the same curve. With `speed`
above 1 a status describes the charge that many times faster than the wall clock (the demo's use, so a
panel moves within minutes); the EUMD's reads (`curve_reads`) always follow the wall clock, since a meter
cannot read more than the circuit carried.
"""

import datetime as dt
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

from binding.simulator import metering
from binding.simulator.common import API, ConformanceError, SimulatorError, parse_timestamp, timestamp
from binding.simulator.contract import expect_equal, expect_fields, expect_json, expect_timestamp
from binding.simulator.server import BindingResult, Site

STATUS_PATH = f"{API}/pev-status"
CHARGING_STATES = ("charging", "idle", "complete", "fault")
STEP_SECONDS = 1  # the curve's integration step: a second is the API's resolution


@dataclass(frozen=True)
class ChargingStatus:
    """What the ESCI reports at one moment of a session, `elapsed_s` wall-clock seconds after the plug-in."""

    elapsed_s: float
    charging_state: str
    state_of_charge: float
    power_w: int
    time_to_complete_s: int | None
    session_energy_wh: int

    def report(self) -> dict:
        """The fields of `post_status` (and of the request body) but `reported_at`."""
        return {
            "charging_state": self.charging_state,
            "state_of_charge": self.state_of_charge,
            "power_w": self.power_w,
            "time_to_complete_s": self.time_to_complete_s,
            "session_energy_wh": self.session_energy_wh,
        }


@dataclass(frozen=True)
class ChargingCurve:
    """A home charge from `start_soc` to `target_soc` (percent). The defaults are a 40 kWh Nissan Leaf on its
    6.6 kW on-board charger: about 5 h 25 min from 30 % to full, the last 15 % tapering over 1 h 45 min.
    `idle_seconds` is a charging timer holding the start (the PEV plugged in, waiting for off-peak)."""

    capacity_wh: int = 40_000
    max_power_w: int = 6_600
    start_soc: float = 30.0
    target_soc: float = 100.0
    ramp_seconds: int = 30
    taper_from_soc: float = 85.0
    tapered_to: float = 0.3  # the share of max_power_w left at the target
    efficiency: float = 0.9  # charger and battery losses: the meter sees more than the battery stores
    idle_seconds: int = 0

    def __post_init__(self):
        if not 0 <= self.start_soc <= self.target_soc <= 100:
            raise SimulatorError("a charge needs 0 ≤ start_soc ≤ target_soc ≤ 100")
        if self.capacity_wh <= 0 or self.max_power_w <= 0 or not 0 < self.efficiency <= 1:
            raise SimulatorError("capacity, power and efficiency must be positive (efficiency at most 1)")
        if not 0 < self.tapered_to <= 1 or self.ramp_seconds < 0 or self.idle_seconds < 0:
            raise SimulatorError("tapered_to must lie in (0, 1]; ramp and idle seconds cannot be negative")

    def power_at(self, charging_seconds: float, soc: float) -> float:
        """The power drawn (W) after `charging_seconds` of charging, at `soc` percent."""
        ramp = 1.0 if self.ramp_seconds == 0 else min(1.0, (charging_seconds + 1) / self.ramp_seconds)
        taper = 1.0
        if soc > self.taper_from_soc:
            span = max(self.target_soc - self.taper_from_soc, 1e-9)
            taper = 1.0 - (1.0 - self.tapered_to) * min(1.0, (soc - self.taper_from_soc) / span)
        return self.max_power_w * ramp * taper

    @cached_property
    def _trajectory(self) -> tuple[list[float], list[float], list[float]]:
        """(soc, power W, energy Wh) at the start of each second of charging, until the target is reached
        (one more entry: the end). Euler steps of one second are exact to well under a watt-hour."""
        soc, energy, socs, powers, energies = self.start_soc, 0.0, [], [], []
        second = 0
        while soc < self.target_soc:
            power = self.power_at(second, soc)
            socs.append(soc)
            powers.append(power)
            energies.append(energy)
            drawn_wh = power * STEP_SECONDS / 3600
            energy += drawn_wh
            soc = min(self.target_soc, soc + 100 * drawn_wh * self.efficiency / self.capacity_wh)
            second += STEP_SECONDS
        socs.append(soc)
        powers.append(0.0)
        energies.append(energy)
        return socs, powers, energies

    @property
    def charging_seconds(self) -> int:
        """How long the charge itself takes, at `speed` 1."""
        return (len(self._trajectory[0]) - 1) * STEP_SECONDS

    @property
    def energy_wh(self) -> float:
        """What the whole charge draws from the premise."""
        return self._trajectory[2][-1]

    @property
    def duration_seconds(self) -> int:
        """From the plug-in to complete, at `speed` 1."""
        return self.idle_seconds + self.charging_seconds

    def _at(self, simulated: float) -> tuple[float, float, float]:
        """(soc, power W, energy Wh) `simulated` seconds after the plug-in, at `speed` 1."""
        socs, powers, energies = self._trajectory
        charging = simulated - self.idle_seconds
        if charging < 0:
            return self.start_soc, 0.0, 0.0
        index = int(charging // STEP_SECONDS)
        if index >= len(socs) - 1:
            return socs[-1], 0.0, energies[-1]
        within = (charging - index * STEP_SECONDS) / STEP_SECONDS
        soc = socs[index] + (socs[index + 1] - socs[index]) * within
        return soc, powers[index], energies[index] + (energies[index + 1] - energies[index]) * within

    def status(self, elapsed_s: float, *, speed: float = 1.0) -> ChargingStatus:
        """The status `elapsed_s` wall-clock seconds after the plug-in, the charge running `speed` times
        faster than the wall clock; `time_to_complete_s` counts down in wall-clock seconds."""
        if elapsed_s < 0 or speed <= 0:
            raise SimulatorError("a status needs elapsed_s ≥ 0 and speed > 0")
        simulated = elapsed_s * speed
        soc, power, energy = self._at(simulated)
        if simulated >= self.duration_seconds:
            return ChargingStatus(elapsed_s, "complete", round(soc, 1), 0, 0, round(energy))
        state = "idle" if simulated < self.idle_seconds else "charging"
        remaining = math.ceil((self.duration_seconds - simulated) / speed)
        return ChargingStatus(elapsed_s, state, round(soc, 1), round(power), remaining, round(energy))

    def statuses(
        self, every_seconds: float, *, speed: float = 1.0, until_seconds: float | None = None
    ) -> Iterator[ChargingStatus]:
        """A status every `every_seconds` of wall clock from the plug-in (0, every, 2·every, …), before
        `until_seconds` if given — after the charge completes, `complete` with no power until the unplug."""
        if every_seconds <= 0:
            raise SimulatorError("statuses need every_seconds > 0")
        tick = 0
        while until_seconds is None or tick * every_seconds < until_seconds:
            yield self.status(tick * every_seconds, speed=speed)
            tick += 1

    def energy_between(self, start_s: float, end_s: float) -> float:
        """The energy (Wh) drawn between two moments (wall-clock seconds after the plug-in) at `speed` 1."""
        return self._at(end_s)[2] - self._at(start_s)[2]


def post_status(
    site: Site,
    binding_id: str,
    *,
    charging_state: str,
    state_of_charge: float,
    power_w: int,
    time_to_complete_s: int | None,
    session_energy_wh: int,
    reported_at: str | None = None,
) -> dict:
    """`POST /device/v1/pev-status` as the ESCI of the binding: the PEV's status now (or at `reported_at`).
    The answer is checked against the contract: 202 with the binding and the server's `received_at`."""
    step = "POST /device/v1/pev-status"
    payload = {
        "binding_id": str(binding_id),
        "reported_at": reported_at or timestamp(site.server.now()),
        "charging_state": charging_state,
        "state_of_charge": state_of_charge,
        "power_w": power_w,
        "time_to_complete_s": time_to_complete_s,
        "session_energy_wh": session_energy_wh,
    }
    response = site.esci_call("POST", STATUS_PATH, payload)
    body = expect_json(response, 202, step)
    expect_fields(body, step, "binding_id", "received_at")
    expect_equal(body, step, binding_id=str(binding_id))
    expect_timestamp(body, step, "received_at")
    return body


def hold_with_status(
    site: Site,
    result: BindingResult,
    curve: ChargingCurve,
    *,
    hold_seconds: float,
    every_seconds: float,
    speed: float = 1.0,
    on_status: Callable[[ChargingStatus, dict], None] | None = None,
) -> list[ChargingStatus]:
    """Stay plugged in for `hold_seconds` (from now), posting the curve's status every `every_seconds`; the
    first at once. `on_status(status, answer)` sees each one as it is acknowledged."""
    began = time.monotonic()
    sent: list[ChargingStatus] = []
    for status in curve.statuses(every_seconds, speed=speed, until_seconds=hold_seconds):
        _sleep_until(began + status.elapsed_s)
        answer = post_status(site, result.binding_id, **status.report())
        sent.append(status)
        if on_status is not None:
            on_status(status, answer)
    _sleep_until(began + hold_seconds)
    return sent


def curve_reads(
    curve: ChargingCurve, plugged_in_at: dt.datetime, unplugged_at: dt.datetime, interval_seconds: int
) -> list[metering.IntervalRead]:
    """The EUMD's reads of every interval that overlaps [plugged_in_at, unplugged_at): the energy the curve
    drew in that part of the interval, on the wall clock (speed 1)."""
    reads = []
    step = dt.timedelta(seconds=interval_seconds)
    start = metering.interval_floor(plugged_in_at, interval_seconds)
    while start < unplugged_at:
        begin, end = max(start, plugged_in_at), min(start + step, unplugged_at)
        wh = curve.energy_between(
            (begin - plugged_in_at).total_seconds(), (end - plugged_in_at).total_seconds()
        )
        reads.append(metering.IntervalRead(start, interval_seconds, round(wh)))
        start += step
    return reads


def send_curve_reads(
    site: Site, result: BindingResult, ended: dict, curve: ChargingCurve
) -> metering.MeteredSession:
    """After the unplug, the EUMD sends the reads of the session's intervals that have ended (a read of an
    interval still running is refused; a real EUMD sends it when the interval closes). Reads the server
    rejected are in the batches' `rejected`, as with `metered_session`."""
    pev_id, interval_seconds = metering.eumd_settings(result)
    start, end = metering.session_window(result, ended)
    all_reads = curve_reads(curve, start, end, interval_seconds)
    now = site.server.now()
    due = [read for read in all_reads if read.interval_end <= now]
    batches = metering.send_reads(site, pev_id, due) if due else []
    return metering.MeteredSession(result, ended, pev_id, due, batches, pending=len(all_reads) - len(due))


def next_interval_end(moment: dt.datetime, interval_seconds: int) -> dt.datetime:
    """The end of the interval `moment` falls in: a session unplugged after it has a read to send."""
    return metering.interval_floor(moment, interval_seconds) + dt.timedelta(seconds=interval_seconds)


def plugged_in_moment(result: BindingResult) -> dt.datetime:
    moment = parse_timestamp(result.plugged_in_at)
    if moment is None:
        raise ConformanceError("POST /device/v1/bindings", "plugged_in_at is not YYYY-MM-DDTHH:MM:SSZ")
    return moment


def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)
