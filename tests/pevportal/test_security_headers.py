"""Every page carries a strict Content Security Policy; only the API browser may set styles from script."""

import pytest

pytestmark = pytest.mark.django_db


def test_it_sends_a_strict_policy_on_portal_pages(client):
    response = client.get("/programs/")

    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_it_relaxes_only_styles_for_the_api_browser(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "script-src 'self';" in policy + ";"


def test_it_serves_the_openapi_schema(client):
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    assert response.json()["info"]["title"] == "PEV Portal API"
