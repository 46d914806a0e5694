"""WCAG 2.1 AA: axe-core scans every public, customer and CSR page in a real browser, in English and in
Spanish, including forms showing errors. Add a page by adding its path to one of the lists below."""

import datetime as dt
import re

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from playwright.sync_api import Page, expect

from billing.models import Tariff
from binding.models import Binding
from enrollment.models import Customer, Enrollment
from tests.binding.conftest import device_ca, make_device  # noqa: F401 (fixtures)
from tests.browser.axe import axe_violations, format_violations
from tests.browser.conftest import CAROL_EMAIL, CAROL_PASSWORD
from tests.factories import PremiseFactory, north_american_vin

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGUAGES = ["en", "es"]

# Anyone may read these.
PUBLIC_PAGES = [
    "/",
    "/programs/",
    "/programs/ev-home/",
    "/programs/compare/",
    "/programs/compare/?kwh_per_night=12&start_hour=23&month=1",
    "/programs/compare/?kwh_per_night=500&start_hour=22&month=7",  # with a field error
    "/accounts/login/",
    "/accounts/signup/",
]

# Dana's pages once her vehicle is enrolled; {enrollment} is its id.
CUSTOMER_PAGES = [
    "/my/",
    "/my/enrollments/{enrollment}/",
    "/my/enrollments/{enrollment}/enrolled/",
    "/my/enrollments/{enrollment}/preferences/",
    "/my/enrollments/{enrollment}/plan/",
    "/my/enrollments/{enrollment}/commissioning/",
    "/my/enrollments/{enrollment}/unenroll/",
    "/my/usage/",
    "/my/sessions/",
    "/my/bills/",
    "/my/notifications/",
    "/my/devices/",
    "/device",
]

# Carol's screens; {customer}, {account}, {premise}, {enrollment}, {binding} are Dana's, {lfdi} her ESCI,
# {eumd} her submeter.
CSR_PAGES = [
    "/csr/",
    "/csr/?q=Dana",
    "/csr/customers/{customer}/",
    "/csr/customers/{customer}/view-as/",
    "/csr/accounts/{account}/enroll/",
    "/csr/accounts/{account}/code/",
    "/csr/premises/{premise}/move-out/",
    "/csr/enrollments/{enrollment}/preferences/",
    "/csr/enrollments/{enrollment}/plan/",
    "/csr/enrollments/{enrollment}/commissioning/",
    "/csr/enrollments/{enrollment}/unenroll/",
    "/csr/enrollments/{enrollment}/history/",
    "/csr/transfers/",
    "/csr/reports/not-enrolled/",
    "/csr/devices/",
    "/csr/devices/{lfdi}/",
    "/csr/devices/{lfdi}/disable/",
    "/csr/devices/{lfdi}/swap/",
    "/csr/devices/{eumd}/interval/",
    "/csr/bindings/",
    "/csr/bindings/{binding}/",
    "/csr/billing/runs/",
    "/csr/billing/holds/",
    "/csr/metering/revisions/",
    "/csr/metering/correlations/",
    "/ops/",
]

# The wizard step's own button: the first form of the page (a "discard" form follows it).
STEP_SUBMIT = "main form >> nth=0 >> button[type=submit]"

DANA_EMAIL = "dana@example.com"
DANA_PASSWORD = "dana-pass-93xq"
ACCOUNT_NUMBER = "7001000001"


@pytest.fixture(params=LANGUAGES)
def language(request, page: Page, live_server) -> str:
    """The visitor's language, chosen as the switcher does it: Django's language cookie."""
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": request.param, "url": live_server.url}]
    )
    return request.param


@pytest.fixture
def dana(django_user_model, sce_programs):
    """A customer with a login and an account at a home where the EV plans are offered."""
    premise = PremiseFactory(
        premise_id="P1000001",
        account__number=ACCOUNT_NUMBER,
        account__customer__name="Dana Ruiz",
        account__customer__phone="6265550101",
        postal_code="91105",
        service_address="12 Orange Grove Ave, Pasadena CA",
        default_tariff=Tariff.objects.get(code="SCE-TOU-D-4-9PM"),
    )
    user = django_user_model.objects.create_user("dana", email=DANA_EMAIL, password=DANA_PASSWORD)
    EmailAddress.objects.create(user=user, email=DANA_EMAIL, verified=True, primary=True)
    return premise


class Scan:
    """Collects the violations of several pages, so one run reports every page's problems at once."""

    def __init__(self, page: Page, live_server, language: str):
        self.page, self.base, self.language = page, live_server.url, language
        self.failures: list[str] = []

    def here(self) -> None:
        """Scan the page as it is now (e.g. a form showing errors)."""
        expect(self.page.locator("html")).to_have_attribute("lang", self.language)
        if violations := axe_violations(self.page):
            self.failures.append(f"{self.page.url} [{self.language}]\n{format_violations(violations)}")

    def visit(self, *paths: str, **ids) -> None:
        for path in paths:
            self.page.goto(self.base + path.format(**ids))
            self.here()

    def assert_clean(self) -> None:
        assert not self.failures, "accessibility violations:\n\n" + "\n\n".join(self.failures)


def sign_in(page: Page, live_server, email: str, password: str) -> None:
    # By field name: the labels are in the visitor's language.
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("input[name=password]")).to_have_count(0)


def test_it_finds_no_violations_on_the_public_pages(page: Page, live_server, sce_programs, language):
    scan = Scan(page, live_server, language)
    scan.visit(*PUBLIC_PAGES)
    scan.assert_clean()


def test_it_finds_no_violations_through_enrollment_and_the_customer_pages(
    page: Page, live_server, dana, language
):
    scan = Scan(page, live_server, language)
    sign_in(page, live_server, DANA_EMAIL, DANA_PASSWORD)
    scan.visit("/my/", "/my/enroll/account/")

    page.locator("input[name=account_number]").fill(ACCOUNT_NUMBER)
    page.locator("input[name=postal_code]").fill("91105")
    page.locator("input[name=phone_last4]").fill("9999")
    page.locator("form:has(input[name=action][value=link]) button[type=submit]").click()
    scan.here()  # the account step with its "could not verify" error
    page.locator("input[name=phone_last4]").fill("0101")
    page.locator("form:has(input[name=action][value=link]) button[type=submit]").click()

    expect(page).to_have_url(f"{live_server.url}/my/enroll/premise/")
    scan.here()
    page.locator("input[name=premise]").first.check()
    page.locator(STEP_SUBMIT).click()

    expect(page).to_have_url(f"{live_server.url}/my/enroll/vehicle/")
    page.locator("input[name=vin]").fill("1HGCM82633A00000O")
    page.locator(STEP_SUBMIT).click()
    scan.here()  # the vehicle step with its VIN error
    page.locator("input[name=vin]").fill(north_american_vin(424242))
    page.locator(STEP_SUBMIT).click()

    expect(page).to_have_url(f"{live_server.url}/my/enroll/plan/")
    scan.here()
    page.locator("button[name=plan][value=ev-prime]").click()

    expect(page).to_have_url(f"{live_server.url}/my/enroll/preferences/")
    scan.here()
    page.locator("input[name=guest_charging]").first.check()
    page.locator(STEP_SUBMIT).click()

    expect(page).to_have_url(f"{live_server.url}/my/enroll/review/")
    scan.here()
    page.locator(STEP_SUBMIT).click()
    expect(page).to_have_url(re.compile(r"/my/enrollments/\d+/enrolled/$"))

    enrollment = Enrollment.objects.get()
    scan.visit(*CUSTOMER_PAGES, enrollment=enrollment.pk)
    scan.assert_clean()


def test_it_finds_no_violations_on_the_csr_pages(
    page: Page,
    live_server,
    dana,
    carol,
    make_device,  # noqa: F811 (the fixture imported above)
    language,
):
    esci, _key = make_device("esci", premise=dana)
    eumd, _key = make_device("eumd", premise=dana)
    binding = _unknown_vin_plug_in(esci)
    scan = Scan(page, live_server, language)
    sign_in(page, live_server, CAROL_EMAIL, CAROL_PASSWORD)
    # Carol enrolls Dana's vehicle by phone, so the enrollment pages have one to show.
    page.goto(f"{live_server.url}/csr/accounts/{ACCOUNT_NUMBER}/enroll/")
    page.locator("input[name=premise]").first.check()
    page.locator("main form button[type=submit]").click()
    scan.here()
    page.locator("input[name=vin]").fill("1HGCM82633A00000O")
    page.locator("input[name=plan]").first.check()
    page.locator("main form button[type=submit]").click()
    scan.here()  # the details step with its VIN error
    page.locator("input[name=vin]").fill(north_american_vin(31337))
    page.locator("input[name=guest_charging]").first.check()
    page.locator("main form button[type=submit]").click()
    scan.here()  # the read-back
    page.locator("button[name=action][value=confirm]").click()
    expect(page.locator("[role=status]")).to_be_visible()

    scan.visit(
        *CSR_PAGES,
        customer=Customer.objects.get(name="Dana Ruiz").pk,
        account=ACCOUNT_NUMBER,
        premise=dana.premise_id,
        enrollment=Enrollment.objects.get().pk,
        lfdi=esci.lfdi,
        eumd=eumd.lfdi,
        binding=binding.pk,
    )
    scan.assert_clean()


def _unknown_vin_plug_in(esci) -> Binding:
    """A plug-in the binding log shows: a VIN nobody enrolled, so it stayed at the default rate."""
    at = dt.datetime(2026, 3, 1, 2, 0, 5, tzinfo=dt.UTC)
    return Binding.objects.create(
        esci=esci,
        eumd_lfdi="a" * 40,
        vin="1M8GDM9AXKP042788",
        premise=esci.premise,
        state=Binding.State.UNBOUND,
        reason=Binding.Reason.UNKNOWN_VIN,
        plugged_in_at=at,
        deadline=at + dt.timedelta(seconds=60),
        response={},
    )


def test_it_switches_language_and_stays_on_the_page(page: Page, live_server, sce_programs):
    page.goto(f"{live_server.url}/programs/ev-home/")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.get_by_label("Language / Idioma").select_option("es")
    page.get_by_role("button", name="Change language").click()

    expect(page).to_have_url(f"{live_server.url}/programs/ev-home/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("link", name="Comparar planes")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Entre semana").first).to_be_visible()

    page.get_by_label("Language / Idioma").select_option("en")
    page.get_by_role("button", name="Cambiar idioma").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("link", name="Compare plans")).to_be_visible()


def test_it_reports_a_violation_under_the_portals_csp(page: Page, live_server, sce_programs):
    # The scan itself must work on a real page, under the real CSP: an unlabelled field is caught.
    page.goto(f"{live_server.url}/programs/")
    page.evaluate("() => document.querySelector('main').append(document.createElement('input'))")

    violations = axe_violations(page)

    assert [v["id"] for v in violations] == ["label"]
    assert "main > input" in format_violations(violations)
