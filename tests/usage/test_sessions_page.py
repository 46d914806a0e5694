"""/my/sessions/: charging sessions with where, how they are billed, energy and cost — the energy from the
reads attributed to the session, priced per hour as billing prices it, one grouped query per page."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest

from binding.models import Binding
from enrollment.models import UtilityAccount
from metering.models import LoadCorrelation
from metering.usage import SessionKind, session_page
from tests.usage.homes import CustomerHome, last_full_month, local, off_peak_price

pytestmark = pytest.mark.django_db
CENT = Decimal("0.01")


@pytest.fixture
def home(sce_programs, make_device, alice):
    return CustomerHome(make_device, alice)


def test_it_prices_each_session_as_billing_does(home, alice):
    month = last_full_month()
    days = home.small_month(month)

    page = session_page(UtilityAccount.objects.for_user(alice), 1)

    unbound, bound = page.object_list  # newest first
    assert (bound.kind, bound.kwh, bound.billed_to_customer) == (SessionKind.BOUND, Decimal("28.800"), True)
    prime_price = off_peak_price(home.plan.tariff, days["day10"])
    assert bound.cost == (Decimal("28.8") * prime_price).quantize(CENT, rounding=ROUND_HALF_UP)
    assert (unbound.kind, unbound.kwh) == (SessionKind.DEFAULT, Decimal("4.000"))
    default_price = off_peak_price(home.premise.default_tariff, days["day11"])
    assert unbound.cost == (Decimal(4) * default_price).quantize(CENT, rounding=ROUND_HALF_UP)
    assert bound.start == local(days["day10"], 22).astimezone(bound.start.tzinfo)
    assert bound.where == home.premise.service_address
    assert bound.own_vehicle


def test_it_bills_a_session_whose_load_check_failed_at_the_home_rate(home, alice):
    days = home.small_month(last_full_month())
    LoadCorrelation.objects.create(
        binding=days["bound"], result=LoadCorrelation.Result.FAIL, checked_at=dt.datetime.now(dt.UTC)
    )

    (_, bound) = session_page(UtilityAccount.objects.for_user(alice), 1).object_list

    assert bound.kind == SessionKind.DEFAULT
    price = off_peak_price(home.premise.default_tariff, days["day10"])
    assert bound.cost == (Decimal("28.8") * price).quantize(CENT, rounding=ROUND_HALF_UP)
    assert "did not confirm" in bound.how_billed


def test_it_shows_a_page_of_sessions_in_a_fixed_number_of_queries(
    client, alice, home, django_assert_max_num_queries
):
    month = last_full_month()
    home.small_month(month)
    client.force_login(alice)
    with django_assert_max_num_queries(40) as few:
        client.get("/my/sessions/")
    for night in range(1, 9):  # more sessions, each with its reads
        day = month.replace(day=night)
        home.session(local(day, 22), local(day, 23), wh=1500)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get("/my/sessions/").content.decode()
    assert page.count('class="session session--') == 10
    assert "Your EV plan" in page
    assert "10:00 PM P" in page  # the bound session's plug-in, local time (PST or PDT)
    assert "Your home&#x27;s regular price (the vehicle was not recognised)" in page


def test_it_paginates(client, alice, home):
    month = last_full_month()
    for night in range(1, 23):
        day = month.replace(day=night)
        home.session(local(day, 22), local(day, 23), wh=1000)
    client.force_login(alice)

    first = client.get("/my/sessions/").content.decode()
    second = client.get("/my/sessions/", {"page": 2}).content.decode()

    assert first.count('class="session session--') == 20
    assert second.count('class="session session--') == 2
    assert 'rel="next"' in first
    assert 'rel="prev"' in second


def test_it_shows_a_guest_at_home_without_the_guest_s_identity(home, alice, bob, make_device):
    guest_home = CustomerHome(make_device, bob)
    month = last_full_month()
    day = month.replace(day=5)
    # Bob's PEV charges at Alice's and pays for itself (a guest billed to its own enrollment).
    guest = Binding.objects.create(
        esci=home.esci,
        eumd=home.eumd,
        eumd_lfdi=home.eumd.lfdi,
        vin=guest_home.vin,
        pev=guest_home.enrollment.pev,
        premise=home.premise,
        enrollment=guest_home.enrollment,
        billed_enrollment=guest_home.enrollment,
        kind=Binding.Kind.GUEST,
        state=Binding.State.ENDED,
        plugged_in_at=local(day, 22),
        deadline=local(day, 22) + dt.timedelta(seconds=60),
        bound_at=local(day, 22),
        unplugged_at=local(day, 23),
        finished_at=local(day, 23),
        response={},
    )

    (at_alices,) = session_page(UtilityAccount.objects.for_user(alice), 1).object_list
    (away,) = session_page(UtilityAccount.objects.for_user(bob), 1).object_list

    assert at_alices.binding == guest
    assert away.binding == guest
    assert (at_alices.kind, at_alices.own_vehicle, at_alices.billed_to_customer) == (
        SessionKind.GUEST,
        False,
        False,
    )
    assert at_alices.vehicle == ""
    assert (away.at_home, away.where, away.own_vehicle, away.billed_to_customer) == (False, "", True, True)
