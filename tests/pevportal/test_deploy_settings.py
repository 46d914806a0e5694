"""Production settings pass Django's deployment checklist with no warning, and bad values fail loudly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE must not leak into the production check.
    unset = {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "pevportal.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PRODUCTION = {
    "PEVPORTAL_ENV": "production",
    "SECRET_KEY": "x7!kq2$0-a-long-random-production-secret-for-the-check-9f8e7d6c5b4a",
    "ALLOWED_HOSTS": "portal.example-utility.com",
    "DEVICE_CA_DIR": "/etc/pevportal/device-ca",
}


def test_it_passes_check_deploy_without_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_refuses_production_without_a_device_ca_directory():
    result = manage("check", **{**PRODUCTION, "DEVICE_CA_DIR": ""})

    assert result.returncode != 0
    assert "DEVICE_CA_DIR must be set" in result.stderr


def test_it_refuses_a_trusted_proxy_that_is_not_an_address():
    result = manage("check", **{**PRODUCTION, "DEVICE_TRUSTED_PROXIES": "10.0.0.5,nginx.internal"})

    assert result.returncode != 0
    assert "'nginx.internal' is not an IP address or network" in result.stderr


def test_it_refuses_production_without_allowed_hosts():
    result = manage("check", **{**PRODUCTION, "ALLOWED_HOSTS": ""})

    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set" in result.stderr


def test_it_refuses_production_without_a_secret_key():
    result = manage("check", **{**PRODUCTION, "SECRET_KEY": ""})

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG must be one of"),
        ("PEVPORTAL_ENV", "staging", "PEVPORTAL_ENV must be development or production"),
        ("DATABASE_URL", "mysql://root@localhost/x", "DATABASE_URL must be a postgres:// URL"),
        ("EMAIL_PORT", "twenty-five", "EMAIL_PORT must be an integer"),
    ],
)
def test_it_fails_loudly_on_a_bad_value(variable, value, message):
    result = manage("check", **{variable: value})

    assert result.returncode != 0
    assert message in result.stderr
