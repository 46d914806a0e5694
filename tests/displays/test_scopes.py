"""A display reads only what its customer allowed: each endpoint needs its own scope."""

import pytest

from tests.displays.conftest import connect


@pytest.mark.parametrize(
    ("scope", "allowed", "refused"),
    [
        ("usage:read", "/api/v1/usage?start=2026-06-01&end=2026-06-01", "/api/v1/bills"),
        ("bills:read", "/api/v1/bills", "/api/v1/usage?start=2026-06-01&end=2026-06-01"),
        ("usage:read", "/api/v1/usage?start=2026-06-01&end=2026-06-01", "/api/v1/live"),
        ("live:read", "/api/v1/live", "/api/v1/bills/1"),
    ],
)
def test_it_lets_a_token_read_only_its_scopes(display, alice, alice_home, scope, allowed, refused):
    token = connect(display, alice, scope=scope)["access_token"]
    assert display.get(allowed, token).status_code == 200
    assert display.get(refused, token).status_code == 403
