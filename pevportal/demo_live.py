"""`make run`'s live premise: the demo premise's ESCI and EUMD plug Alice's demo PEV in, report its charging
status every few seconds, unplug, send the session's reads — and start again, so Alice's live panel and the
operations view move with no manual step (docs/demo.md).

`make serve` starts it next to the web server (`DEMO_LIVE=0` turns it off). It talks to the portal only over
signed HTTP, like any device (binding/simulator/), so it runs as its own process: it waits for /healthz, then
loops until the server stops. Each session lasts until the EUMD interval running at the plug-in has ended
(at least MIN_SESSION_SECONDS), so every session has a read to send; its charge runs faster than the wall
clock, completing three quarters into the session, so the panel shows the ramp, the taper and `complete`.
"""

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from binding.simulator import (
    BindingResult,
    ConformanceError,
    Server,
    SimulatedPev,
    SimulatorError,
    Site,
    metering,
    scenarios,
)
from binding.simulator.status import (
    ChargingCurve,
    ChargingStatus,
    hold_with_status,
    next_interval_end,
    plugged_in_moment,
    send_curve_reads,
)

STATUS_EVERY_SECONDS = 3.0
MIN_SESSION_SECONDS = 120.0
PAUSE_SECONDS = 20.0  # unplugged between sessions, so the panel shows no live session for a while
# After the interval's end, so its read is due (the server refuses a read of an interval still running).
AFTER_INTERVAL = dt.timedelta(seconds=2)
CHARGED_SHARE = 0.75  # the charge completes three quarters into the session, then reports `complete`
START_SOCS = (30.0, 55.0, 20.0, 70.0, 40.0)  # the state of charge at each plug-in, in turn
HEALTH_TIMEOUT_SECONDS = 120.0
RETRY_SECONDS = 10.0

Log = Callable[[str], None]


def print_log(line: str) -> None:
    now = dt.datetime.now(dt.UTC).strftime("%H:%M:%SZ")
    print(f"{now} demo-live: {line}", flush=True)


@dataclass
class DemoSession:
    """One loop of the driver: the plug-in, the statuses posted, the unplug and the reads sent."""

    binding: BindingResult
    statuses: list[ChargingStatus]
    ended: dict
    metered: metering.MeteredSession


class Driver:
    """The demo premise's devices and Alice's PEV, driven in a loop against the portal at `site.server`."""

    def __init__(
        self,
        site: Site,
        pev_factory: Callable[[], SimulatedPev],
        *,
        forget_pev: Callable[[], None],
        log: Log = print_log,
        status_every: float = STATUS_EVERY_SECONDS,
        min_session: float = MIN_SESSION_SECONDS,
        pause: float = PAUSE_SECONDS,
    ):
        self.site = site
        self.pev_factory = pev_factory
        self.pev = pev_factory()
        self.forget_pev = forget_pev
        self.log = log
        self.status_every = status_every
        self.min_session = min_session
        self.pause = pause
        self.sessions = 0

    def wait_for_server(self, timeout: float = HEALTH_TIMEOUT_SECONDS) -> None:
        """Until /healthz answers 200: the server is up and its database reachable."""
        deadline = time.monotonic() + timeout
        url = self.site.server.url("/healthz")
        while True:
            try:
                if self.site.server.session.get(url, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SimulatorError(f"{url} did not answer 200 within {timeout:.0f} s")
            time.sleep(0.5)

    def run_once(self) -> DemoSession:
        """Plug in, charge along the curve while reporting status, unplug after the interval ends, send the
        reads."""
        self.site.server.sync_clock(self.site.esci)
        result = self._plug_in()
        _, interval_seconds = metering.eumd_settings(result)
        earliest = plugged_in_moment(result) + dt.timedelta(seconds=self.min_session)
        unplug_at = next_interval_end(earliest, interval_seconds) + AFTER_INTERVAL
        hold = max(0.0, (unplug_at - self.site.server.now()).total_seconds())
        curve = ChargingCurve(start_soc=START_SOCS[self.sessions % len(START_SOCS)])
        speed = curve.duration_seconds / max(1.0, CHARGED_SHARE * hold)
        self.sessions += 1
        self.log(
            f"charging from {curve.start_soc:g} % at up to {curve.max_power_w / 1000:g} kW, {speed:.0f}× "
            f"the wall clock; unplugs at {unplug_at:%H:%M:%S}Z, when the {interval_seconds} s interval ends"
        )
        statuses = hold_with_status(
            self.site,
            result,
            curve,
            hold_seconds=hold,
            every_seconds=self.status_every,
            speed=speed,
            on_status=self._log_status,
        )
        ended = scenarios.unplug(self.site, result.binding_id, pev=self.pev)
        self.log(f"unplugged: binding {result.binding_id} {ended['state']} at {ended.get('unplugged_at')}")
        metered = send_curve_reads(self.site, result, ended, curve)
        self.log(f"EUMD reads: {metering.summary(metered.batches)}")
        rejected = [item for batch in metered.batches for item in batch.rejected]
        if rejected:
            reasons = sorted({item["reason"] for item in rejected})
            raise ConformanceError("POST /device/v1/readings", f"reads rejected: {', '.join(reasons)}")
        return DemoSession(result, statuses, ended, metered)

    def run_forever(self, *, parent_pid: int | None = None) -> None:
        """Sessions with a pause between them until the server stops (or the process that started us does).
        A failed session is logged and the loop goes on: the portal may be restarting."""
        self.wait_for_server()
        while parent_pid is None or os.getppid() == parent_pid:
            try:
                self.run_once()
            except (ConformanceError, SimulatorError) as error:
                self.log(f"session failed: {error}; trying again in {RETRY_SECONDS:g} s")
                time.sleep(RETRY_SECONDS)
                continue
            except requests.RequestException as error:
                self.log(f"no answer from the portal ({type(error).__name__}); waiting for it")
                self.wait_for_server(timeout=float("inf") if parent_pid is None else HEALTH_TIMEOUT_SECONDS)
                continue
            self.log(f"next plug-in in {self.pause:g} s")
            time.sleep(self.pause)

    def _plug_in(self) -> BindingResult:
        """Commission the PEV on its first plug-in, re-bind it on later ones. A PEV whose key the portal
        does not know (its database was reset, the state directory kept) forgets it and commissions again."""
        try:
            result = scenarios.plug_in(self.site, self.pev)
        except ConformanceError as error:
            if not (self.pev.commissioned and _declined(error)):
                raise
            self.log(
                "the portal declined the PEV's re-binding proof (a new database?): commissioning it again "
                "with a new key"
            )
            self.forget_pev()
            self.pev = self.pev_factory()
            result = scenarios.plug_in(self.site, self.pev)
        self.log(
            f"plugged in PEV {self.pev.vin} at {self.site.premise_id}: {result.kind} {result.binding_id} "
            f"{result.state}"
        )
        return result

    def _log_status(self, status: ChargingStatus, answer: dict) -> None:
        remaining = status.time_to_complete_s
        self.log(
            f"status {status.charging_state}: {status.state_of_charge:g} %, {status.power_w / 1000:.1f} kW, "
            f"{status.session_energy_wh / 1000:.2f} kWh"
            + (f", complete in {remaining} s" if remaining else "")
            + f" (received {answer['received_at']})"
        )


def _declined(error: ConformanceError) -> bool:
    if error.response is None:
        return False
    try:
        return error.response.json().get("state") == "unbound"
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The demo premise's devices charging Alice's PEV in a loop")
    parser.add_argument("--base-url", required=True, help="The portal, e.g. http://127.0.0.1:8000")
    parser.add_argument("--status-every", type=float, default=STATUS_EVERY_SECONDS, metavar="SECONDS")
    parser.add_argument("--pause", type=float, default=PAUSE_SECONDS, metavar="SECONDS")
    parser.add_argument(
        "--parent-pid", type=int, help="Stop when this process (`make serve`) is gone, even if killed"
    )
    options = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pevportal.settings")
    import django

    django.setup()
    from pevportal import demo

    try:
        driver = Driver(
            demo.demo_site(Server(options.base_url)),
            demo.demo_pev,
            forget_pev=demo.forget_demo_pev,
            status_every=options.status_every,
            pause=options.pause,
        )
        print_log(
            f"the demo premise {demo.DEMO_PREMISE} plugs in PEV {demo.DEMO_VIN} (DEMO_LIVE=0 turns this off)"
        )
        driver.run_forever(parent_pid=options.parent_pid)
    except SimulatorError as error:
        print_log(f"stopped: {error}")
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
