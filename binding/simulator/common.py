"""What every part of the simulator shares: the device API's constants, the simulator's errors and its
timestamp format.
"""

import base64
import datetime as dt
import json
import re

import requests

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
JWKS_PATH = "/.well-known/jwks.json"
API = "/device/v1"
FALLBACK = "premise_default_rate"
GENERIC_REASON = "not_validated"
TIMEOUT_SECONDS = 10


class SimulatorError(Exception):
    """The simulator cannot go on: a missing key file, a PEV that was never commissioned, a bad argument."""


class ConformanceError(SimulatorError):
    """The server's answer departs from the device API contract (status, state, body or utility signature)."""

    def __init__(self, step: str, problem: str, response: requests.Response | None = None):
        self.step = step
        self.problem = problem
        self.response = response
        message = f"{step}: {problem}"
        if response is not None:
            message += f" (HTTP {response.status_code}: {_excerpt(response)})"
        super().__init__(message)


def timestamp(moment: dt.datetime) -> str:
    """The device API's time format: UTC to the second, `YYYY-MM-DDTHH:MM:SSZ`."""
    return moment.astimezone(dt.UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not TIMESTAMP.match(value):
        return None
    return dt.datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=dt.UTC)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def response_body(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def _excerpt(response: requests.Response) -> str:
    return json.dumps(response_body(response))[:300]
