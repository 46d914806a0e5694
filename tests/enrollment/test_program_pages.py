"""Public programme pages (Req 1, 2): programmes, plans, real tariff grids and prices, plan comparison."""

import pytest

from enrollment.models import PevProgram, ServicePlan


def test_it_lists_programs_and_how_to_enroll_without_login(client, sce_programs):
    response = client.get("/programs/")

    assert response.status_code == 200
    content = response.content.decode()
    assert "EV Home Charging" in content
    assert "EV Prime" in content
    assert "How to enroll" in content
    assert "1-800-555-0150" in content


def test_it_shows_each_plan_with_its_tariff_grid_prices_and_eligibility(client, sce_programs):
    response = client.get("/programs/ev-home/")

    content = response.content.decode()
    assert response.status_code == 200
    assert "TOU-D-PRIME" in content
    assert "Summer On-Peak" in content
    # TOU-D-PRIME summer on-peak in force from 2026-06-01: sheet 91200-E 0.59291 + FRC 0.00619.
    assert "$0.59910" in content
    assert "Customers whose home is served on" in content
    assert "15-minute intervals" in content


def test_it_hides_inactive_programs_and_plans(client, sce_programs):
    ServicePlan.objects.filter(code="ev-standard").update(is_active=False)

    content = client.get("/programs/ev-home/").content.decode()

    assert "EV Prime" in content
    assert "EV Standard" not in content
    PevProgram.objects.update(is_active=False)
    assert client.get("/programs/ev-home/").status_code == 404


def test_it_prices_a_typical_charging_pattern_on_every_plan(client, sce_programs):
    response = client.get("/programs/compare/", {"kwh_per_night": "10", "start_hour": "22", "month": "7"})

    assert response.status_code == 200
    results = response.context["estimates"]
    totals = [result.estimate.total for result in results]
    assert totals == sorted(totals)
    assert {result.plan.code for result in results} == {"ev-prime", "ev-standard"}
    for result in results:
        estimate = result.estimate
        assert estimate.total > 0
        assert estimate.energy + estimate.fixed == estimate.total
        assert f"${estimate.energy}</td>" in response.content.decode()
        assert f"${estimate.fixed}</td>" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kwh_per_night": "0", "start_hour": "22", "month": "7"}, "kwh_per_night"),
        ({"kwh_per_night": "10", "start_hour": "24", "month": "7"}, "start_hour"),
        ({"kwh_per_night": "ten", "start_hour": "22", "month": "13"}, "month"),
    ],
)
def test_it_explains_a_bad_comparison_input(client, sce_programs, params, field):
    response = client.get("/programs/compare/", params)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert response.context["estimates"] == []


def test_it_renders_the_program_page_in_a_bounded_number_of_queries(
    client, sce_programs, django_assert_max_num_queries
):
    with django_assert_max_num_queries(10):
        assert client.get("/programs/ev-home/").status_code == 200
