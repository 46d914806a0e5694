"""The CSR screens of billing runs (issue 6): the runs, newest first, and a run's progress and errors,
which its page polls every two seconds until the run is over. Only CSRs see them."""

import datetime as dt
import re

import pytest

from billing import runs
from billing.models import BillingRun
from tests.factories import PremiseFactory, UtilityAccountFactory

pytestmark = pytest.mark.django_db
MARCH = dt.date(2026, 3, 1)
APRIL_2 = dt.datetime(2026, 4, 2, tzinfo=dt.UTC)
RUNS = "/csr/billing/runs/"


def make_run(**fields) -> BillingRun:
    return BillingRun.objects.create(**{"period": MARCH, "trigger": "command", **fields})


@pytest.fixture
def run(db):
    return make_run(status="running", premises_total=1200, premises_done=500, bills_issued=480, bills_held=15)


@pytest.fixture
def urls(run):
    return [RUNS, f"{RUNS}{run.pk}/", f"{RUNS}{run.pk}/progress/"]


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_it_sends_anonymous_visitors_to_sign_in(client, urls):
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url


def test_it_forbids_customers(client, alice, urls):
    client.force_login(alice)

    for url in urls:
        assert client.get(url).status_code == 403, url


def test_it_shows_every_screen_to_a_csr(client, carol_csr, urls):
    client.force_login(carol_csr)

    for url in urls:
        assert client.get(url).status_code == 200, url


def test_it_links_the_runs_from_the_csr_navigation(client, carol_csr, alice):
    client.force_login(carol_csr)
    assert f'href="{RUNS}"' in client.get("/csr/").content.decode()
    client.force_login(alice)
    assert f'href="{RUNS}"' not in client.get("/").content.decode()


def test_it_lists_the_runs_newest_first_in_a_fixed_number_of_queries(
    client, carol_csr, run, django_assert_max_num_queries
):
    account = UtilityAccountFactory(number="7001000001")
    make_run(account=account, requested_by=carol_csr, trigger="csr", status="done")
    client.force_login(carol_csr)

    with django_assert_max_num_queries(6):
        response = client.get(RUNS)

    page = text(response)
    assert [r.pk for r in response.context["page"]] == sorted(
        BillingRun.objects.values_list("pk", flat=True), reverse=True
    )
    assert "2 runs" in page
    assert "Account 7001000001 Done" in page
    assert "All Running 500 / 1200 480 15" in page
    for _ in range(5):
        make_run(account=UtilityAccountFactory(), requested_by=carol_csr)
    with django_assert_max_num_queries(6):
        client.get(RUNS)


def test_a_running_runs_page_polls_its_progress(client, carol_csr, run):
    client.force_login(carol_csr)

    response = client.get(f"{RUNS}{run.pk}/")

    html = response.content.decode()
    assert f'hx-get="{RUNS}{run.pk}/progress/" hx-trigger="every 2s" hx-swap="outerHTML"' in html
    assert '<script src="/static/django_htmx/htmx-2.min.js" defer></script>' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # the CSP allows no inline script
    page = text(response)
    assert "Billing run" in page
    assert "Status: Running" in page
    assert "500 of 1200 premises done" in page
    assert "Bills issued 480 Held for review 15 Billed or held already 5" in page


def test_the_progress_stops_polling_once_the_run_is_over(client, carol_csr, run):
    client.force_login(carol_csr)
    BillingRun.objects.filter(pk=run.pk).update(
        status="done", premises_done=1200, bills_issued=1185, finished_at=APRIL_2
    )

    response = client.get(f"{RUNS}{run.pk}/progress/")

    html = response.content.decode()
    assert 'id="run-progress"' in html
    assert "hx-get" not in html
    assert "hx-trigger" not in html
    assert "Status: Done" in text(response)
    assert "Finished 2026-04-02 00:00:00 UTC" in text(response)


def test_it_shows_a_failed_chunk_with_its_premises(client, carol_csr, sce_programs):
    first, second = (PremiseFactory(premise_id=f"P900000{n}") for n in (1, 2))
    run = runs.open_run(MARCH, trigger="command", now=APRIL_2)
    runs.start_run(run.pk, now=APRIL_2)
    runs.record_chunk_failure(
        run.pk, [first.pk, second.pk], ValueError("no tariff version in force"), now=APRIL_2
    )
    client.force_login(carol_csr)

    response = client.get(f"{RUNS}{run.pk}/progress/")

    page = text(response)
    assert "Status: Failed" in page
    assert "1 error" in page
    assert "2 premises, P9000001 to P9000002 ValueError: no tariff version in force" in page
    assert "running the month again" in page
