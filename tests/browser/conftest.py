"""Browser-test fixtures: Carol, a CSR, as a real login a browser can sign in with."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group, Permission

from pevportal.roles import CSR_GROUP

CAROL_EMAIL = "carol@utility.example"
CAROL_PASSWORD = "carol-pass-1234"


@pytest.fixture
def carol(django_user_model):
    # A transactional test's flush removes the CSR group its data migration created; make sure it is there.
    group, _ = Group.objects.get_or_create(name=CSR_GROUP)
    group.permissions.add(Permission.objects.get(content_type__app_label="pevportal", codename="csr_access"))
    carol = django_user_model.objects.create_user("carol", email=CAROL_EMAIL, password=CAROL_PASSWORD)
    carol.groups.add(group)
    EmailAddress.objects.create(user=carol, email=carol.email, verified=True, primary=True)
    return carol


def sign_in_as_carol(page, live_server) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(CAROL_EMAIL)
    page.get_by_label("Password").fill(CAROL_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
