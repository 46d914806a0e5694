"""A PEV's side of the key material, for tests: a P-256 key, its public JWK and JWS-form signatures."""

import base64
import dataclasses

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc.jwk import ECKey

from binding import proofs


@dataclasses.dataclass
class KeyedPev:
    vin: str
    key: ec.EllipticCurvePrivateKey = dataclasses.field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def jwk(self) -> dict:
        return ECKey.import_key(self.key.public_key()).as_dict(private=False)

    def sign(self, message: str) -> str:
        r, s = decode_dss_signature(self.key.sign(message.encode(), ec.ECDSA(hashes.SHA256())))
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def proof(self, premise_id: str, esci_lfdi: str, plugged_in_at: str) -> str:
        return self.sign(proofs.proof_message(self.vin, premise_id, esci_lfdi, plugged_in_at))

    def ack(self, binding_id, parameters_version: str) -> str:
        return self.sign(proofs.ack_message(str(binding_id), parameters_version))
