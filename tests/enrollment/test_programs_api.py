"""The public programmes API (Req 1, 2) and its place in the OpenAPI schema."""

from enrollment.models import ServicePlan


def test_it_lists_programs_and_plans_with_tariff_codes(client, sce_programs):
    response = client.get("/api/v1/programs/")

    assert response.status_code == 200
    [program] = response.json()
    assert program["code"] == "ev-home"
    prime = next(plan for plan in program["plans"] if plan["code"] == "ev-prime")
    assert prime["tariff"] == "SCE-TOU-D-PRIME"
    assert prime["eligible_tariffs"] == ["SCE-TOU-D-4-9PM"]
    assert prime["eumd_interval_seconds"] == 900
    assert prime["binding_timeout_seconds"] == 60


def test_it_omits_plans_that_are_not_offered(client, sce_programs):
    ServicePlan.objects.filter(code="ev-standard").update(is_active=False)

    plans = client.get("/api/v1/programs/ev-home/").json()["plans"]

    assert [plan["code"] for plan in plans] == ["ev-prime"]


def test_it_answers_404_for_an_unknown_program(client, sce_programs):
    assert client.get("/api/v1/programs/nope/").status_code == 404


def test_it_publishes_the_endpoint_in_the_openapi_schema(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert "/api/v1/programs/{code}/" in response.json()["paths"]
