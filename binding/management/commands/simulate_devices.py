"""`python manage.py simulate_devices`: play an ESCI, its EUMD and a PEV against a device API over HTTP.

The device simulator and conformance kit (`binding/simulator/`, docs/device-api.md): it works against any
server — this portal or a vendor's sandbox — and touches no database, only HTTP and its state directory.
"""

from pathlib import Path

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from binding import simulator
from binding.simulator import ConformanceError, Server, SimulatedDevice, SimulatedPev, SimulatorError, Site

SCENARIOS = ["plug-in", "unplug", "session", "guest", "spoof", "replay", "messages", "conformance"]
DEVICES = ("esci", "eumd")
FILES = ("key", "cert")
USAGE_ERROR = 2
FALLBACK_TEXT = "charging proceeds at the premise's default rate"


class Command(BaseCommand):
    help = (
        "Simulate an ESCI, its EUMD and a PEV with real signed HTTP against a device API "
        "(docs/device-api.md). Scenarios: plug-in (commission, or re-bind with the PEV's key from "
        "--state-dir), unplug, session (plug in and unplug), guest (a PEV commissioned elsewhere visits "
        "--premise), spoof (a VIN without proof must be unbound), replay (a resent signed request must get "
        "401), messages (fetch, verify, --ack), conformance (the whole kit: PASS/FAIL per check, exit 1 on "
        "any failure). Exit 1 when the server departs from the contract, 2 on a usage error."
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
        elif scenario == "session":
            result, ended = simulator.session(site, pev, hold_seconds=options["hold"])
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
