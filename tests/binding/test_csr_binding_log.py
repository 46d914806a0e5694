"""The CSR binding log: plug-ins by VIN or premise, and each binding's events in UTC with the specific reason
devices never see (BR.4, BR.6)."""

import datetime as dt

import pytest
from django.utils import timezone

from binding.models import Binding, BindingEvent
from tests.factories import PevFactory, PremiseFactory

PLUGGED_IN = dt.datetime(2026, 3, 1, 2, 0, 5, tzinfo=dt.UTC)


def plug_in(esci, vin, *, at=PLUGGED_IN, state=Binding.State.UNBOUND, reason="", pev=None, **fields):
    return Binding.objects.create(
        esci=esci,
        eumd_lfdi="a" * 40,
        vin=vin,
        pev=pev,
        premise=esci.premise,
        state=state,
        reason=reason,
        plugged_in_at=at,
        deadline=at + dt.timedelta(seconds=60),
        response={},
        **fields,
    )


@pytest.fixture
def home_esci(make_device):
    return make_device("esci", premise=PremiseFactory(premise_id="P-HOME"))[0]


def test_it_finds_plug_ins_by_vin_or_premise(client, carol_csr, home_esci, make_device):
    pev = PevFactory()
    mine = plug_in(home_esci, pev.vin, pev=pev, state=Binding.State.ENDED)
    later = PLUGGED_IN + dt.timedelta(minutes=1)
    spoof = plug_in(home_esci, "1M8GDM9AXKP042788", at=later, reason=Binding.Reason.UNKNOWN_VIN)
    other_esci, _ = make_device("esci")
    elsewhere = plug_in(other_esci, pev.vin, at=PLUGGED_IN + dt.timedelta(hours=1), pev=pev)
    client.force_login(carol_csr)

    def found(**query):
        return [b.pk for b in client.get("/csr/bindings/", query).context["page"]]

    assert found(vin=pev.vin.lower()) == [elsewhere.pk, mine.pk]
    assert found(premise="P-HOME") == [spoof.pk, mine.pk]
    assert found(premise="P-HOME", state="unbound") == [spoof.pk]
    assert set(found()) == {mine.pk, spoof.pk, elsewhere.pk}


def test_it_shows_the_specific_reason_to_csrs(client, carol_csr, home_esci):
    binding = plug_in(home_esci, "1M8GDM9AXKP042788", reason=Binding.Reason.BAD_PROOF)
    client.force_login(carol_csr)

    html = client.get(f"/csr/bindings/{binding.pk}/").content.decode()

    assert "PEV proof does not verify" in html


def test_it_shows_the_event_log_in_utc_with_sender_and_detail(client, carol_csr, home_esci, settings):
    settings.TIME_ZONE = "America/Los_Angeles"
    binding = plug_in(home_esci, "1M8GDM9AXKP042788", state=Binding.State.AWAITING_PEV_ACK)
    BindingEvent.objects.create(
        binding=binding,
        at=PLUGGED_IN,
        sender=BindingEvent.Sender.ESCI,
        sender_id=home_esci.lfdi,
        event="binding_requested",
        detail={"premise_id": "P-HOME"},
    )
    BindingEvent.objects.create(
        binding=binding,
        at=PLUGGED_IN + dt.timedelta(seconds=1),
        sender=BindingEvent.Sender.UTILITY,
        event="pev_parameters_sent",
    )
    client.force_login(carol_csr)

    response = client.get(f"/csr/bindings/{binding.pk}/")

    html = response.content.decode()
    assert html.index("2026-03-01 02:00:05") < html.index("2026-03-01 02:00:06")
    assert "binding_requested" in html
    assert "pev_parameters_sent" in html
    assert "ESCI" in html
    assert home_esci.lfdi in html
    assert "&quot;premise_id&quot;: &quot;P-HOME&quot;" in html


def test_it_says_when_a_handshake_is_past_its_deadline(client, carol_csr, home_esci):
    stale = plug_in(
        home_esci, "1M8GDM9AXKP042788", at=timezone.now() - dt.timedelta(minutes=5), state="awaiting_eumd_ack"
    )
    fresh = plug_in(home_esci, "1HGCM82633A004352", at=timezone.now(), state="awaiting_pev_ack")
    client.force_login(carol_csr)

    assert "now Timed out (default rate)" in client.get(f"/csr/bindings/{stale.pk}/").content.decode()
    assert "now Timed out" not in client.get(f"/csr/bindings/{fresh.pk}/").content.decode()


def test_it_404s_on_an_unknown_binding(client, carol_csr, db):
    client.force_login(carol_csr)

    assert client.get("/csr/bindings/00000000-0000-4000-8000-000000000000/").status_code == 404


def test_it_lists_plug_ins_in_a_fixed_number_of_queries(
    client, carol_csr, home_esci, django_assert_max_num_queries
):
    for minute in range(30):
        plug_in(home_esci, "1M8GDM9AXKP042788", at=PLUGGED_IN + dt.timedelta(minutes=minute))
    client.force_login(carol_csr)

    with django_assert_max_num_queries(8):
        response = client.get("/csr/bindings/")

    assert len(response.context["page"]) == 30
