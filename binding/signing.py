"""The device side of request signing (Req 9; NF.1): what an ESCI or EUMD does before it sends a request.

RFC 9421 HTTP Message Signatures with `ecdsa-p256-sha256`, keyid = the device's LFDI, covering `@method`,
`@target-uri` and, when there is a body, `content-digest` (RFC 9530, sha-256), with `created` and a random
`nonce`. The device simulator, the tests and the benchmark sign with this; `docs/device-api.md` gives the same
recipe for vendors. The server side is `binding/api/authentication.py`.
"""

import datetime as dt
import secrets
from dataclasses import dataclass, field

import requests
from cryptography.hazmat.primitives.asymmetric import ec
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from http_message_signatures.structures import CaseInsensitiveDict

ALGORITHM = algorithms.ECDSA_P256_SHA256
SIGNATURE_LABEL = "sig"
COVERED_COMPONENTS = ("@method", "@target-uri")


@dataclass
class _Message:
    """The request as http-message-signatures reads it: method, absolute URL, headers."""

    method: str
    url: str
    headers: CaseInsensitiveDict = field(default_factory=CaseInsensitiveDict)


class DeviceSigner:
    """Signs requests for one device: `sign()` returns the headers to send, signature included."""

    def __init__(self, lfdi: str, private_key: ec.EllipticCurvePrivateKey):
        self.lfdi = lfdi
        self._signer = HTTPMessageSigner(
            signature_algorithm=ALGORITHM,
            key_resolver=MappingKeyResolver(public_keys={}, private_keys={lfdi: private_key}),
        )

    def sign(
        self, method: str, url: str, body: bytes | None = None, headers: dict | None = None
    ) -> dict[str, str]:
        """`headers` plus Content-Digest (when there is a body), Signature-Input and Signature.

        `url` is the absolute URL exactly as it goes on the wire: the server compares `@target-uri` with the
        address it was reached at (behind a proxy, the public one).
        """
        message = _Message(method.upper(), url, CaseInsensitiveDict(headers or {}))
        self._signer.sign(
            message,
            key_id=self.lfdi,
            created=dt.datetime.now(dt.UTC),
            nonce=secrets.token_urlsafe(16),
            label=SIGNATURE_LABEL,
            covered_component_ids=COVERED_COMPONENTS,
            # Given a body, the library adds Content-Digest and covers it; an empty body needs neither.
            body=body or None,
        )
        return dict(message.headers.items())


class DeviceAuth(requests.auth.AuthBase):
    """`requests.post(url, json=..., auth=DeviceAuth(signer))`: signs each request as it is sent."""

    def __init__(self, signer: DeviceSigner):
        self.signer = signer

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body
        if isinstance(body, str):
            body = body.encode()
        if body is not None and not isinstance(body, bytes):
            raise TypeError("DeviceAuth signs buffered bodies only (bytes or str), not streams.")
        request.headers.update(self.signer.sign(request.method, request.url, body))
        return request
