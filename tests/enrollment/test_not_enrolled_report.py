"""The CSR report of premises with no PEV enrolled (Req 5): CSR role only, filters, CSV export."""

import csv
import io

import pytest

from enrollment.models import Enrollment
from tests.factories import EnrollmentFactory, PremiseFactory

URL = "/csr/reports/not-enrolled/"


@pytest.fixture
def premises(db):
    enrolled = PremiseFactory(premise_id="P-ENROLLED", feeder_id="FDR-1")
    EnrollmentFactory(premise=enrolled, status=Enrollment.Status.ACTIVE)
    ended = PremiseFactory(premise_id="P-ENDED", feeder_id="FDR-1")
    EnrollmentFactory(premise=ended, status=Enrollment.Status.ENDED)
    return {
        "enrolled": enrolled,
        "ended": ended,
        "plain": PremiseFactory(premise_id="P-PLAIN", feeder_id="FDR-2", account__customer__name="=cmd|calc"),
    }


def test_it_lists_premises_without_a_current_enrollment(client, carol_csr, premises):
    client.force_login(carol_csr)

    response = client.get(URL)

    assert response.status_code == 200
    listed = [p.premise_id for p in response.context["page"]]
    assert listed == ["P-ENDED", "P-PLAIN"]


def test_it_filters_by_feeder(client, carol_csr, premises):
    client.force_login(carol_csr)

    response = client.get(URL, {"feeder": "fdr-2"})

    assert [p.premise_id for p in response.context["page"]] == ["P-PLAIN"]


def test_it_exports_csv_with_the_same_filter_and_defused_formulas(client, carol_csr, premises):
    client.force_login(carol_csr)

    response = client.get(URL, {"feeder": "FDR-2", "format": "csv"})

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["premise_id", "account_number", "customer_name"]
    assert [row[0] for row in rows[1:]] == ["P-PLAIN"]
    assert rows[1][2] == "'=cmd|calc"


def test_it_sends_anonymous_visitors_to_sign_in(client, premises):
    response = client.get(URL)

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_it_forbids_customers(client, alice, premises):
    client.force_login(alice)

    assert client.get(URL).status_code == 403
    assert client.get(URL, {"format": "csv"}).status_code == 403


def test_it_pages_without_a_query_per_row(client, carol_csr, django_assert_max_num_queries, db):
    PremiseFactory.create_batch(30)
    client.force_login(carol_csr)

    with django_assert_max_num_queries(12):
        response = client.get(URL)

    assert response.status_code == 200
    assert len(response.context["page"]) == 30


def test_it_shows_nothing_and_exports_nothing_for_a_filter_it_cannot_apply(client, carol_csr, premises):
    client.force_login(carol_csr)

    page = client.get(URL, {"tariff": "NO-SUCH-TARIFF"})
    export = client.get(URL, {"tariff": "NO-SUCH-TARIFF", "format": "csv"})

    assert "tariff" in page.context["form"].errors
    assert list(page.context["page"]) == []
    assert export.status_code == 400
    assert b"tariff" in export.content
