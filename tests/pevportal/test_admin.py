"""The admin shows records read-only and signs staff in through allauth (rate limits, MFA)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser(
        "root", email="root@utility.example", password="x-long-pw-9"
    )


def test_it_lists_audit_records_but_never_edits_them(client, admin_user):
    client.force_login(admin_user)

    assert client.get("/admin/pevportal/auditrecord/").status_code == 200
    assert client.get("/admin/pevportal/auditrecord/add/").status_code == 403
    assert client.get("/admin/enrollment/enrollment/add/").status_code == 403


def test_it_sends_admin_sign_in_through_allauth(client):
    response = client.get("/admin/login/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
