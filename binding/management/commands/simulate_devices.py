"""`python manage.py simulate_devices`: play an ESCI, its EUMD and a PEV against a device API over HTTP.

The device simulator and conformance kit (`binding/simulator/`, docs/device-api.md): it works against any
server — this portal or a vendor's sandbox — and touches no database, only HTTP and its state directory.
"""

import datetime as dt
from pathlib import Path

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from binding import simulator
from binding.simulator import (
    ConformanceError,
    Server,
    SimulatedDevice,
    SimulatedPev,
    SimulatorError,
    Site,
    metering,
)
from binding.simulator import status as pev_status
from binding.simulator.scenarios import metered_session

SCENARIOS = ["plug-in", "unplug", "session", "guest", "spoof", "replay", "messages", "conformance"]
DEVICES = ("esci", "eumd")
FILES = ("key", "cert")
USAGE_ERROR = 2
FALLBACK_TEXT = "charging proceeds at the premise's default rate"
READ_OPTIONS = (
    "reads",
    "plugged_in_minutes_ago",
    "session_minutes",
    "ami_file",
    "meter_id",
    "ami_without_pev",
)
STATUS_OPTIONS = ("status_every", "charge_speed", "start_soc")


class Command(BaseCommand):
    help = (
        "Simulate an ESCI, its EUMD and a PEV with real signed HTTP against a device API "
        "(docs/device-api.md). Scenarios: plug-in (commission, or re-bind with the PEV's key from "
        "--state-dir), unplug, session (plug in and unplug), guest (a PEV commissioned elsewhere visits "
        "--premise), spoof (a VIN without proof must be unbound), replay (a resent signed request must get "
        "401), messages (fetch, verify, --ack), conformance (the whole kit: PASS/FAIL per check, exit 1 on "
        "any failure). A session with --reads then sends the EUMD's interval reads, and --ami-file writes "
        "the premise meter's matching file for import_ami. Exit 1 when the server departs from the "
        "contract, 2 on a usage error."
    )
    # It must run against a vendor's sandbox from any machine: no checks, no migrations, no database.
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("--base-url", required=True, help="The server, e.g. https://sandbox.example.com")
        parser.add_argument("--esci-key", type=Path, required=True, help="The ESCI's private key (PEM)")
        parser.add_argument("--esci-cert", type=Path, required=True, help="The ESCI's certificate (PEM)")
        parser.add_argument("--eumd-key", type=Path, required=True, help="The EUMD's private key (PEM)")
        parser.add_argument("--eumd-cert", type=Path, required=True, help="The EUMD's certificate (PEM)")
        parser.add_argument("--premise", required=True, help="The premise ID the ESCI is registered to")
        parser.add_argument("--vin", help="The PEV's VIN (every scenario but replay and messages)")
        parser.add_argument(
            "--state-dir",
            type=Path,
            default=Path(settings.BASE_DIR) / "var" / "simulator",
            help="Where the PEV keeps its key and state between runs (default: var/simulator)",
        )
        parser.add_argument("--scenario", choices=SCENARIOS, default="session")
        parser.add_argument("--hold", type=float, default=0, help="session: seconds to stay plugged in")
        parser.add_argument("--ack", action="store_true", help="messages: acknowledge each message")
        parser.add_argument(
            "--reads",
            action="store_true",
            help="session: after unplugging, the EUMD sends its reads of every interval of the session that "
            "has ended (POST /device/v1/readings)",
        )
        parser.add_argument(
            "--plugged-in-minutes-ago",
            type=float,
            metavar="MINUTES",
            help="session: the ESCI reports a plug-in MINUTES ago, as after an outage, so whole intervals "
            "have ended (the server accepts it within the longest plan's binding timeout)",
        )
        parser.add_argument(
            "--session-minutes",
            type=float,
            metavar="MINUTES",
            help="session: unplug MINUTES after the plug-in (at most --plugged-in-minutes-ago; default: now)",
        )
        parser.add_argument(
            "--ami-file",
            type=Path,
            metavar="PATH",
            help="session with --reads: write the premise meter's interval file (CSV for import_ami): a base "
            "load plus the PEV's energy, from one interval before the session to one after",
        )
        parser.add_argument("--meter-id", help="--ami-file: the premise's revenue meter ID")
        parser.add_argument(
            "--ami-without-pev",
            action="store_true",
            help="--ami-file: leave the PEV's energy out, as a meter that never saw it (correlation fails)",
        )
        parser.add_argument(
            "--status-every",
            type=float,
            metavar="SECONDS",
            help="session: while it holds (--hold), the ESCI reports the PEV's status every SECONDS "
            "(POST /device/v1/pev-status) along a home charging curve: ramp, constant power, taper to full",
        )
        parser.add_argument(
            "--charge-speed",
            type=float,
            metavar="FACTOR",
            help="--status-every: the charge runs FACTOR times faster than the wall clock (default 1), so a "
            "short hold shows a whole charge; the EUMD's reads stay on the wall clock",
        )
        parser.add_argument(
            "--start-soc",
            type=float,
            metavar="PERCENT",
            help="--status-every: the state of charge at the plug-in (default 30)",
        )
        parser.add_argument("--host-premise", help="conformance: a second premise that admits guests")
        for device in DEVICES:
            for file in FILES:
                parser.add_argument(
                    f"--host-{device}-{file}", type=Path, help=f"conformance: the host's {device}"
                )
        parser.add_argument(
            "--tls-client-cert",
            action="store_true",
            help="Present the ESCI's certificate and key as the TLS client certificate (for a proxy "
            "that verifies them, docs/device-proxy.md); the EUMD's requests use the same connection",
        )
        parser.add_argument("--ca-bundle", type=Path, help="Verify the server's TLS certificate with this CA")
        parser.add_argument("--trace", action="store_true", help="Print every request and answer")

    def handle(self, *args, **options):
        scenario = options["scenario"]
        if scenario not in ("replay", "messages") and not options["vin"]:
            raise CommandError(f"--scenario {scenario} needs --vin", returncode=USAGE_ERROR)
        self._check_read_options(options)
        self._check_status_options(options)
        session = requests.Session()
        if options["tls_client_cert"]:
            # The ESCI's own connection: it relays the EUMD's signed requests over it unchanged.
            session.cert = (str(options["esci_cert"]), str(options["esci_key"]))
        if options["ca_bundle"]:
            session.verify = str(options["ca_bundle"])
        server = Server(options["base_url"], session=session)
        try:
            site = self._site(
                server, options["premise"], *(options[f"{d}_{f}"] for d in DEVICES for f in FILES)
            )
            pev = SimulatedPev(options["vin"], state_dir=options["state_dir"]) if options["vin"] else None
            if scenario == "conformance":
                return self._conformance(site, pev, options)
            server.sync_clock(site.esci)
            self._run(scenario, site, pev, options)
        except ConformanceError as error:
            self._print_trace(server, options)
            raise CommandError(f"FAIL {error}", returncode=1) from None
        except SimulatorError as error:
            raise CommandError(str(error), returncode=USAGE_ERROR) from None
        except requests.RequestException as error:
            raise CommandError(f"no answer from {options['base_url']}: {error}", returncode=1) from None
        self._print_trace(server, options)

    def _site(self, server, premise_id, esci_key, esci_cert, eumd_key, eumd_cert) -> Site:
        return Site(
            server,
            premise_id,
            SimulatedDevice.from_pem_files(esci_key, esci_cert),
            SimulatedDevice.from_pem_files(eumd_key, eumd_cert),
        )

    def _run(self, scenario: str, site: Site, pev: SimulatedPev | None, options) -> None:
        if scenario == "plug-in":
            self._binding(simulator.plug_in(site, pev))
        elif scenario == "unplug":
            current = pev.current_binding
            if not current:
                raise SimulatorError(
                    f"PEV {pev.vin} is not plugged in (no binding in {options['state_dir']})"
                )
            self._ended(simulator.unplug(site, current["binding_id"], pev=pev))
        elif scenario == "session" and options["status_every"]:
            self._status_session(site, pev, options)
        elif scenario == "session" and options["reads"]:
            self._metered_session(site, pev, options)
        elif scenario == "session":
            result, ended = simulator.session(site, pev, **self._session_times(site, options))
            self._binding(result)
            self._ended(ended)
        elif scenario == "guest":
            self._binding(simulator.guest_visit(site, pev))
        elif scenario == "spoof":
            # Not in the same second as the genuine PEV's last plug-in: that would be a retry of it.
            plugged_in_at = site.server.plug_in_time(after=pev.last_plugged_in_at)
            result = simulator.spoofed_vin(site, pev.vin, plugged_in_at=plugged_in_at)
            self.stdout.write(f"spoofed VIN {pev.vin}: {result.binding_id} {result.state} → {FALLBACK_TEXT}")
        elif scenario == "replay":
            result = simulator.replay(site)
            self.stdout.write(
                f"replay refused: first sending {result.first_status}, the same signed request again "
                f"{result.replay_status} {result.replay_body['error']}"
            )
        elif scenario == "messages":
            self._messages(site, ack=options["ack"])

    def _check_read_options(self, options) -> None:
        given = [f"--{name.replace('_', '-')}" for name in READ_OPTIONS if options[name]]
        if given and options["scenario"] != "session":
            raise CommandError(f"{', '.join(given)}: only with --scenario session", returncode=USAGE_ERROR)
        if options["ami_file"] and not (options["reads"] and options["meter_id"]):
            raise CommandError("--ami-file needs --reads and --meter-id", returncode=USAGE_ERROR)
        if (options["meter_id"] or options["ami_without_pev"]) and not options["ami_file"]:
            raise CommandError("--meter-id and --ami-without-pev go with --ami-file", returncode=USAGE_ERROR)
        ago, minutes = options["plugged_in_minutes_ago"], options["session_minutes"]
        if ago is not None and ago < 0:
            raise CommandError("--plugged-in-minutes-ago cannot be negative", returncode=USAGE_ERROR)
        if minutes is not None and (ago is None or not 0 <= minutes <= ago):
            raise CommandError(
                "--session-minutes needs --plugged-in-minutes-ago at least as long: the unplug must be past",
                returncode=USAGE_ERROR,
            )

    def _check_status_options(self, options) -> None:
        given = [f"--{name.replace('_', '-')}" for name in STATUS_OPTIONS if options[name] is not None]
        if given and options["scenario"] != "session":
            raise CommandError(f"{', '.join(given)}: only with --scenario session", returncode=USAGE_ERROR)
        if options["status_every"] is None:
            if given:
                raise CommandError(f"{', '.join(given)} go with --status-every", returncode=USAGE_ERROR)
            return
        if options["status_every"] < 1:
            raise CommandError("--status-every needs at least 1 second", returncode=USAGE_ERROR)
        if options["hold"] <= 0:
            raise CommandError(
                "--status-every needs --hold: statuses are sent while the PEV is plugged in",
                returncode=USAGE_ERROR,
            )
        if options["plugged_in_minutes_ago"] is not None:
            raise CommandError(
                "--status-every reports the status now: not with --plugged-in-minutes-ago",
                returncode=USAGE_ERROR,
            )
        if options["charge_speed"] is not None and options["charge_speed"] <= 0:
            raise CommandError("--charge-speed must be positive", returncode=USAGE_ERROR)
        if options["start_soc"] is not None and not 0 <= options["start_soc"] <= 100:
            raise CommandError("--start-soc is a percentage (0 to 100)", returncode=USAGE_ERROR)

    def _status_session(self, site: Site, pev: SimulatedPev, options) -> None:
        """Plug in, report the PEV's status along the charging curve while holding, unplug (and send the
        reads with --reads)."""
        start_soc = options["start_soc"]
        curve = (
            pev_status.ChargingCurve() if start_soc is None else pev_status.ChargingCurve(start_soc=start_soc)
        )
        result = simulator.plug_in(site, pev)
        self._binding(result)

        def show(status, answer) -> None:
            self.stdout.write(
                f"  status {status.charging_state}: {status.state_of_charge:g} %, {status.power_w} W, "
                f"{status.session_energy_wh} Wh, {status.time_to_complete_s} s to complete "
                f"(received {answer['received_at']})"
            )

        pev_status.hold_with_status(
            site,
            result,
            curve,
            hold_seconds=options["hold"],
            every_seconds=options["status_every"],
            speed=options["charge_speed"] or 1.0,
            on_status=show,
        )
        ended = simulator.unplug(site, result.binding_id, pev=pev)
        self._ended(ended)
        if options["reads"]:
            metered = pev_status.send_curve_reads(site, result, ended, curve)
            self._report_reads(site, metered, options)

    def _session_times(self, site: Site, options) -> dict:
        """The plug-in and unplug times of a session reported late; none (now) otherwise."""
        times = {"hold_seconds": options["hold"]}
        if options["plugged_in_minutes_ago"] is not None:
            plugged_in_at = site.server.now() - dt.timedelta(minutes=options["plugged_in_minutes_ago"])
            times["plugged_in_at"] = simulator.timestamp(plugged_in_at)
            if options["session_minutes"] is not None:
                unplugged_at = plugged_in_at + dt.timedelta(minutes=options["session_minutes"])
                times["unplugged_at"] = simulator.timestamp(unplugged_at)
        return times

    def _metered_session(self, site: Site, pev: SimulatedPev, options) -> None:
        metered = metered_session(site, pev, **self._session_times(site, options))
        self._binding(metered.binding)
        self._ended(metered.ended)
        self._report_reads(site, metered, options)

    def _report_reads(self, site: Site, metered: metering.MeteredSession, options) -> None:
        self.stdout.write(f"reads: {metering.summary(metered.batches)}")
        if metered.pending:
            self.stdout.write(f"  {metered.pending} interval(s) not yet ended: their reads are not sent")
        if options["ami_file"]:
            include_pev = not options["ami_without_pev"]
            reads = metering.premise_reads(
                options["meter_id"], metered.reads, now=site.server.now(), include_pev=include_pev
            )
            path = metering.write_premise_file(options["ami_file"], options["meter_id"], reads)
            self.stdout.write(
                f"premise meter file: {path}, {len(reads)} interval(s) of meter {options['meter_id']}, "
                f"{'with' if include_pev else 'without'} the PEV's energy"
            )
        rejected = [item for batch in metered.batches for item in batch.rejected]
        if rejected:
            reasons = sorted({item["reason"] for item in rejected})
            raise ConformanceError(
                "POST /device/v1/readings", f"{len(rejected)} read(s) rejected: {', '.join(reasons)}"
            )

    def _conformance(self, site: Site, pev: SimulatedPev, options) -> None:
        host = None
        if options["host_premise"]:
            needed = [f"host_{device}_{file}" for device in DEVICES for file in FILES]
            missing = [f"--{name.replace('_', '-')}" for name in needed if not options[name]]
            if missing:
                raise SimulatorError(f"--host-premise needs {', '.join(missing)}")
            host = self._site(site.server, options["host_premise"], *(options[name] for name in needed))
        run = simulator.run_conformance(
            site, pev, host=host, on_check=lambda check: self.stdout.write(str(check))
        )
        self._print_trace(site.server, options)
        failed = sum(check.outcome == "FAIL" for check in run.checks)
        skipped = sum(check.outcome == "SKIP" for check in run.checks)
        passed = len(run.checks) - failed - skipped
        summary = f"{passed} passed, {failed} failed, {skipped} skipped"
        if failed:
            raise CommandError(f"conformance: {summary}", returncode=1)
        self.stdout.write(f"conformance: {summary}")

    def _binding(self, result: simulator.BindingResult) -> None:
        self.stdout.write(
            f"{result.kind} {result.binding_id}: {result.state} (plugged in {result.plugged_in_at})"
        )
        parameters = result.pev_parameters or {}
        if parameters:
            self.stdout.write(
                f"  PEV parameters: program {parameters['program']}, plan {parameters['plan']}, version "
                f"{parameters['parameters_version']}, {len(parameters['price_schedule'])} price periods"
            )
        if result.eumd_discovery:
            self.stdout.write(f"  EUMD interval: {result.eumd_discovery['interval_seconds']} s")

    def _ended(self, body: dict) -> None:
        self.stdout.write(f"unplugged: {body['binding_id']} {body['state']}")

    def _messages(self, site: Site, *, ack: bool) -> None:
        messages = simulator.fetch_messages(site)
        self.stdout.write(f"{len(messages)} message(s)")
        for message in messages:
            self.stdout.write(f"  {message.id} {message.kind} for {message.recipient} {message.recipient_id}")
            if ack:
                self.stdout.write(f"    acked at {simulator.ack_message(site, message.id)['acked_at']}")

    def _print_trace(self, server: Server, options) -> None:
        if options["trace"]:
            for exchange in server.trace:
                self.stdout.write(f"  {exchange}")
