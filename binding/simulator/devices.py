"""The simulated devices: an ESCI or EUMD (an LFDI and its key) and a PEV (its key, proofs and state)."""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from binding import proofs
from binding.identity import certificate_lfdi
from binding.signing import DeviceSigner
from binding.simulator.common import ConformanceError, SimulatorError, b64url
from binding.simulator.contract import (
    expect_equal,
    expect_fields,
    expect_interval,
    expect_price_schedule,
    public_members,
)


@dataclass
class SimulatedDevice:
    """An ESCI or an EUMD: its LFDI (the keyid of its signatures) and its private key."""

    lfdi: str
    private_key: ec.EllipticCurvePrivateKey
    signer: DeviceSigner = field(init=False, repr=False)

    def __post_init__(self):
        self.signer = DeviceSigner(self.lfdi, self.private_key)

    @classmethod
    def from_pem_files(cls, key_path: Path | str, cert_path: Path | str) -> "SimulatedDevice":
        """A device from its key (PKCS#8 PEM) and certificate (PEM) files; the certificate gives the LFDI."""
        try:
            key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
            certificate = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
        except (OSError, ValueError) as error:
            raise SimulatorError(
                f"cannot load device key {key_path} / certificate {cert_path}: {error}"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise SimulatorError(f"{key_path}: a device key must be EC P-256")
        if key.public_key().public_numbers() != certificate.public_key().public_numbers():
            raise SimulatorError(f"{key_path} is not the key of the certificate {cert_path}")
        return cls(certificate_lfdi(certificate), key)


class SimulatedPev:
    """A PEV: a P-256 key pair, the proofs and acknowledgements it signs, what it accepted at commissioning.

    With a state directory the key (`pev-<VIN>.key.pem`, mode 0600) and the state (`pev-<VIN>.json`) persist,
    so the next run re-binds. The PEV refuses parameters it cannot verify with the utility's published keys.
    """

    def __init__(self, vin: str, private_key=None, *, state_dir: Path | str | None = None):
        self.vin = vin
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.state: dict = {}
        if self.state_dir is not None and self._key_path.exists():
            private_key = serialization.load_pem_private_key(self._key_path.read_bytes(), password=None)
            if self._state_path.exists():
                self.state = json.loads(self._state_path.read_text())
        self.private_key = private_key or ec.generate_private_key(ec.SECP256R1())
        if self.state_dir is not None and not self._key_path.exists():
            self._write_key()

    @property
    def _key_path(self) -> Path:
        return self.state_dir / f"pev-{self.vin}.key.pem"

    @property
    def _state_path(self) -> Path:
        return self.state_dir / f"pev-{self.vin}.json"

    def _write_key(self) -> None:
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        descriptor = os.open(self._key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)

    def save(self) -> None:
        if self.state_dir is not None:
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._state_path.write_text(json.dumps(self.state, indent=2, sort_keys=True) + "\n")

    @property
    def commissioned(self) -> bool:
        """Whether the utility confirmed this PEV's key: from now on it proves itself with it."""
        return bool(self.state.get("commissioned_at"))

    @property
    def home_premise_id(self) -> str | None:
        return self.state.get("home_premise_id")

    @property
    def current_binding(self) -> dict | None:
        """The binding the PEV is plugged in under, as the last run left it: {binding_id, premise_id, ...}."""
        return self.state.get("binding")

    def public_jwk(self) -> dict:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }

    def sign(self, message: str) -> str:
        """ECDSA P-256 / SHA-256 over the UTF-8 message, in the JWS form: r‖s (64 bytes), base64url."""
        r, s = decode_dss_signature(self.private_key.sign(message.encode(), ec.ECDSA(hashes.SHA256())))
        return b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def proof(self, premise_id: str, esci_lfdi: str, plugged_in_at: str) -> str:
        """The re-binding proof (Req 28): ties this plug-in to this premise, this ESCI and this moment."""
        return self.sign(proofs.proof_message(self.vin, premise_id, esci_lfdi, plugged_in_at))

    def ack_signature(self, binding_id: str, parameters_version: str) -> str:
        """The PEV's acknowledgement of the parameters it received (steps 12–13; Req 19)."""
        return self.sign(proofs.ack_message(binding_id, parameters_version))

    def accept_parameters(self, parameters: dict, *, binding_id: str, premise_id: str) -> None:
        """Check verified `pev_parameters` are meant for this PEV and its key; refuse them otherwise."""
        step = "pev_parameters"
        expect_fields(parameters, step, "typ", "binding_id", "pev_id", "premise_id", "program", "plan")
        expect_fields(
            parameters, step, "parameters_version", "interval_seconds", "price_schedule", "cnf", "iat"
        )
        expect_equal(parameters, step, typ="pev-parameters", binding_id=binding_id, pev_id=self.vin)
        expect_equal(parameters, step, premise_id=premise_id)
        if public_members(parameters["cnf"].get("jwk") if isinstance(parameters["cnf"], dict) else None) != (
            self.public_jwk()
        ):
            raise ConformanceError(
                step, "cnf.jwk is not this PEV's public key: the PEV refuses the parameters"
            )
        expect_interval(parameters, step)
        expect_price_schedule(parameters["price_schedule"], step)
        self.state["pending_parameters"] = parameters

    def commissioned_by(self, confirmation: dict, *, binding_id: str, premise_id: str, at: str) -> None:
        """The utility confirmed the binding: the PEV is commissioned and keeps its key for re-binding."""
        self.state.update(
            commissioned_at=at,
            home_premise_id=premise_id,
            parameters=self.state.pop("pending_parameters", None),
            confirmation=confirmation,
        )
        self.plugged_in(binding_id, premise_id, at)

    def plugged_in(self, binding_id: str, premise_id: str, plugged_in_at: str) -> None:
        self.state["binding"] = {
            "binding_id": binding_id,
            "premise_id": premise_id,
            "plugged_in_at": plugged_in_at,
        }
        self.state["last_plugged_in_at"] = plugged_in_at
        self.save()

    @property
    def last_plugged_in_at(self) -> str | None:
        """When this PEV last plugged in: a new plug-in must come at a later second."""
        return self.state.get("last_plugged_in_at")

    def unplugged(self) -> None:
        self.state.pop("binding", None)
        self.save()
