"""The dashboard's live charging panel and each vehicle's latest session (enrollment/views/customer.py
`dashboard`): rendered by the server, so the page shows the state without JavaScript, in a fixed number of
queries however many vehicles and sessions there are."""

import datetime as dt

from django.utils import timezone

from tests.binding.test_binding_api import commission
from tests.binding.test_handshake import Home
from tests.enrollment.test_customer_dashboard import QUERIES as DASHBOARD_QUERIES
from tests.live.conftest import link
from tests.live.test_pev_status_api import post, report

# The whole page's budget (the 12), with three live sessions on it.
QUERIES = DASHBOARD_QUERIES


def test_it_shows_the_live_panel_and_the_latest_session(client, alice, home):
    link(alice, home.premise.account)
    binding_id, _, _ = commission(client, home)
    assert post(client, home, report(binding_id, session_energy_wh=3_210, power_w=6_600)).status_code == 202
    client.force_login(alice)

    page = client.get("/my/").content.decode()

    assert f'data-binding-id="{binding_id}"' in page
    assert "Charging on your EV plan" in page
    assert home.pev.vin[-6:] in page
    assert "6.6 kW" in page
    assert "3.21 kWh" in page
    assert 'aria-live="polite"' in page
    assert 'src="/static/js/live.js" defer' in page
    assert 'id="live-labels"' in page
    assert "Charging on your EV plan (plugged in" in page, "the vehicle's latest session"


def test_it_says_when_nothing_is_plugged_in(client, alice, home):
    link(alice, home.premise.account)
    client.force_login(alice)

    page = client.get("/my/").content.decode()

    assert "No vehicle is plugged in at your premises right now." in page
    assert "No charging session yet" in page


def test_bob_does_not_see_alices_session(client, alice, bob, home):
    link(alice, home.premise.account)
    binding_id, _, _ = commission(client, home)
    client.force_login(bob)

    page = client.get("/my/").content.decode()

    assert binding_id not in page
    assert home.premise.service_address not in page


def test_it_renders_in_a_fixed_number_of_queries(
    client, alice, make_device, plan, django_assert_max_num_queries
):
    homes = [Home(make_device, plan=plan) for _ in range(3)]
    for home in homes:
        link(alice, home.premise.account)
        home.commission(at=timezone.now() - dt.timedelta(minutes=5))
    client.force_login(alice)

    with django_assert_max_num_queries(QUERIES):
        page = client.get("/my/").content.decode()

    assert page.count('class="live-panel card"') == 3 + 1, "three sessions and the empty template"
