"""The CSR review queues of metering: read revisions to apply or dismiss, never changing a billed interval,
and sessions whose load correlation failed, cleared with a note (issue 5; Req 15)."""

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType

from metering import review
from metering.correlation import correlate
from metering.models import (
    CorrelationDue,
    LoadCorrelation,
    PevRead,
    PremiseRead,
    ReadRevision,
    UsageRollup,
    UsageSource,
)
from pevportal.models import AuditRecord
from tests.metering.correlation_fixtures import (
    CHARGING,
    PLUGGED_IN,
    SOON_AFTER,
    charged_session,
    eumd_meter,
    premise_meter,
    write_household,
)
from tests.metering.homes import MeteredHome

pytestmark = pytest.mark.django_db
REVISIONS = "/csr/metering/revisions/"
CORRELATIONS = "/csr/metering/correlations/"
RECEIVED = SOON_AFTER + dt.timedelta(hours=2)
FOUR_TEN_PM_LOCAL = PLUGGED_IN + dt.timedelta(minutes=30)  # 03:30 UTC


@pytest.fixture
def home(sce_programs, make_device):
    return MeteredHome(make_device)


@pytest.fixture
def session(home):
    """An evening charge the premise meter explains, correlated."""
    binding = charged_session(home)
    write_household(home, CHARGING)
    correlate(binding.pk, now=SOON_AFTER)
    return binding


def premise_revision(home, *, wh=1000, at=FOUR_TEN_PM_LOCAL, reason=ReadRevision.Reason.CONFLICT, **fields):
    stored = PremiseRead.objects.get(meter=premise_meter(home), interval_start=at)
    return ReadRevision.objects.create(
        meter=premise_meter(home),
        interval_start=at,
        interval_seconds=900,
        wh=wh,
        stored_wh=stored.wh,
        reason=reason,
        received_at=fields.pop("received_at", RECEIVED),
        **fields,
    )


def pev_revision(home, binding, *, wh=1500, at=FOUR_TEN_PM_LOCAL):
    return ReadRevision.objects.create(
        meter=eumd_meter(home),
        interval_start=at,
        interval_seconds=900,
        wh=wh,
        stored_wh=PevRead.objects.get(meter=eumd_meter(home), interval_start=at).wh,
        vin=binding.vin,
        reason=ReadRevision.Reason.CONFLICT,
        received_at=RECEIVED,
    )


def failed_session(home, *, start=PLUGGED_IN, premise_wh=1000):
    """A session whose premise meter saw less than the PEV in two quarters, correlated."""
    binding = charged_session(home, start=start)
    household = write_household(home, CHARGING, start=start)
    for read in household[6:8]:
        read.wh = premise_wh
        read.save()
    return correlate(binding.pk, now=start + dt.timedelta(hours=3))


def audit(action: str, model) -> AuditRecord:
    return AuditRecord.objects.get(target_type=ContentType.objects.get_for_model(model), action=action)


# --- Who may use them ----------------------------------------------------------------------------------


@pytest.fixture
def urls(home, session):
    revision = premise_revision(home)
    return [
        REVISIONS,
        f"{REVISIONS}?reason=conflict",
        f"{REVISIONS}{revision.pk}/apply/",
        f"{REVISIONS}{revision.pk}/dismiss/",
        CORRELATIONS,
        f"{CORRELATIONS}?result=warn",
        f"{CORRELATIONS}{session.pk}/",
        f"{CORRELATIONS}{session.pk}/clear/",
    ]


def test_it_sends_anonymous_visitors_to_sign_in(client, urls):
    for url in urls:
        for response in (client.get(url), client.post(url.split("?")[0], {"note": "x"})):
            assert response.status_code == 302, url
            assert response["Location"].startswith("/accounts/login/"), url


def test_it_forbids_customers_every_queue_and_action(client, alice, urls):
    client.force_login(alice)

    for url in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url.split("?")[0], {"note": "meter replaced"}).status_code == 403, url
    assert ReadRevision.objects.open().count() == 1


# --- Read revisions ----------------------------------------------------------------------------------


def test_it_lists_open_revisions_with_the_stored_and_the_new_value(client, carol_csr, home, session):
    premise_revision(home, wh=1234)
    pev_revision(home, session, wh=1567)
    premise_revision(home, wh=999, status=ReadRevision.Status.DISMISSED)
    client.force_login(carol_csr)

    response = client.get(REVISIONS)

    html = response.content.decode()
    assert [r.wh for r in response.context["page"]] == [1234, 1567]
    assert "2 open revisions" in html
    assert home.premise.premise_id in html
    assert session.vin in html
    assert "2100 Wh" in html  # stored at the premise meter
    assert "1800 Wh" in html  # stored at the EUMD
    assert "1234 Wh" in html
    assert "1567 Wh" in html
    assert "2026-03-02 03:30" in html


def test_it_filters_revisions_by_reason(client, carol_csr, home, session):
    conflict = premise_revision(home)
    billed = premise_revision(home, wh=2000, at=PLUGGED_IN, reason=ReadRevision.Reason.BILLED)
    client.force_login(carol_csr)

    def listed(**query):
        return [r.pk for r in client.get(REVISIONS, query).context["page"]]

    assert listed(reason="billed") == [billed.pk]
    assert listed(reason="conflict") == [conflict.pk]
    assert listed(reason="nonsense") == []


def test_it_applies_a_revision_and_rebuilds_that_days_usage(client, carol_csr, home, session):
    revision = premise_revision(home, wh=1000)
    client.force_login(carol_csr)

    response = client.post(
        f"{REVISIONS}{revision.pk}/apply/", {"note": "Head-end re-sent validated data"}, follow=True
    )

    assert "is now 1000 Wh" in response.content.decode()
    assert response.context["page"].paginator.count == 0
    read = PremiseRead.objects.get(meter=premise_meter(home), interval_start=FOUR_TEN_PM_LOCAL)
    assert read.wh == 1000
    revision.refresh_from_db()
    assert (revision.status, revision.resolved_by, revision.note) == (
        ReadRevision.Status.APPLIED,
        carol_csr,
        "Head-end re-sent validated data",
    )
    premise_total = sum(PremiseRead.objects.filter(premise=home.premise).values_list("wh", flat=True))
    rolled_up = UsageRollup.objects.filter(premise=home.premise, source=UsageSource.PREMISE)
    assert sum(r.wh for r in rolled_up) == premise_total
    assert set(rolled_up.values_list("day", flat=True)) == {dt.date(2026, 3, 1)}
    assert set(CorrelationDue.objects.values_list("binding_id", flat=True)) == {session.pk}
    record = audit("read_revision.applied", ReadRevision)
    assert (record.actor, record.before["read_wh"], record.after["read_wh"]) == (carol_csr, 2100, 1000)


def test_it_lets_the_correlation_see_an_applied_value(carol_csr, home, session):
    revision = premise_revision(home, wh=1000)

    review.apply_revision(revision, by=carol_csr, note="Head-end re-sent validated data")
    correlation = correlate(session.pk, now=SOON_AFTER)

    assert correlation.result == LoadCorrelation.Result.FAIL
    assert correlation.evidence["exceeding"][0]["interval_start"] == "2026-03-02T03:30:00Z"


def test_it_applies_a_pev_revision_and_requeues_its_session(carol_csr, home, session):
    revision = pev_revision(home, session, wh=1500)

    review.apply_revision(revision, by=carol_csr, note="EUMD firmware fix re-sent the day")

    read = PevRead.objects.get(meter=eumd_meter(home), interval_start=FOUR_TEN_PM_LOCAL)
    assert read.wh == 1500
    assert list(CorrelationDue.objects.values_list("binding_id", flat=True)) == [session.pk]
    pev_total = sum(PevRead.objects.filter(premise=home.premise).values_list("wh", flat=True))
    assert sum(UsageRollup.objects.filter(source=UsageSource.PEV).values_list("wh", flat=True)) == pev_total


def test_it_never_applies_a_revision_to_a_billed_interval(client, carol_csr, home, session):
    meter = premise_meter(home)
    meter.billed_through = PLUGGED_IN + dt.timedelta(hours=1)
    meter.save()
    revision = premise_revision(home, wh=1000)
    client.force_login(carol_csr)

    page = client.get(REVISIONS).content.decode()
    response = client.post(f"{REVISIONS}{revision.pk}/apply/", {"note": "Corrected data"}, follow=True)

    assert f"{REVISIONS}{revision.pk}/apply/" not in page
    assert "already billed" in response.content.decode()
    assert PremiseRead.objects.get(meter=meter, interval_start=FOUR_TEN_PM_LOCAL).wh == 2100
    revision.refresh_from_db()
    assert revision.status == ReadRevision.Status.OPEN
    with pytest.raises(review.IntervalBilled):
        review.apply_revision(revision, by=carol_csr, note="Corrected data")


def test_it_dismisses_a_revision_and_keeps_the_stored_read(client, carol_csr, home, session):
    revision = premise_revision(home, wh=1000)
    client.force_login(carol_csr)

    response = client.post(
        f"{REVISIONS}{revision.pk}/dismiss/",
        {"note": "Meter test pulse", "next": f"{REVISIONS}?reason=conflict"},
    )

    assert response["Location"] == f"{REVISIONS}?reason=conflict"
    assert PremiseRead.objects.get(meter=premise_meter(home), interval_start=FOUR_TEN_PM_LOCAL).wh == 2100
    revision.refresh_from_db()
    assert (revision.status, revision.note) == (ReadRevision.Status.DISMISSED, "Meter test pulse")
    assert audit("read_revision.dismissed", ReadRevision).actor == carol_csr
    assert not CorrelationDue.objects.exists()


def test_it_requires_a_note_for_every_decision(client, carol_csr, home, session):
    revision = premise_revision(home, wh=1000)
    client.force_login(carol_csr)

    response = client.post(f"{REVISIONS}{revision.pk}/apply/", {"note": "   "}, follow=True)

    assert "write a note" in response.content.decode()
    revision.refresh_from_db()
    assert revision.status == ReadRevision.Status.OPEN
    with pytest.raises(review.ValidationError):
        review.dismiss_revision(revision, by=carol_csr, note="")


def test_it_refuses_a_revision_already_decided(client, carol_csr, home, session):
    revision = premise_revision(home, wh=1000)
    review.dismiss_revision(revision, by=carol_csr, note="Meter test pulse")
    client.force_login(carol_csr)

    response = client.post(f"{REVISIONS}{revision.pk}/apply/", {"note": "Apply after all"}, follow=True)

    assert "already dismissed" in response.content.decode()
    assert PremiseRead.objects.get(meter=premise_meter(home), interval_start=FOUR_TEN_PM_LOCAL).wh == 2100
    with pytest.raises(review.RevisionNotOpen):
        review.apply_revision(revision, by=carol_csr, note="Apply after all")


def test_it_ignores_a_return_address_outside_the_queues(client, carol_csr, home, session):
    revision = premise_revision(home, wh=1000)
    client.force_login(carol_csr)

    response = client.post(
        f"{REVISIONS}{revision.pk}/dismiss/", {"note": "Meter test pulse", "next": "https://evil.example/"}
    )

    assert response["Location"] == REVISIONS


# --- Load correlation --------------------------------------------------------------------------------


def test_it_lists_failed_sessions_with_their_evidence(client, carol_csr, home, make_device):
    failed = failed_session(home)
    cleared = failed_session(home, start=PLUGGED_IN + dt.timedelta(days=1))
    review.clear_correlation(cleared, by=carol_csr, note="Meter swap")
    warned = failed_session(home, start=PLUGGED_IN + dt.timedelta(days=2), premise_wh=2100)
    LoadCorrelation.objects.filter(pk=warned.pk).update(result=LoadCorrelation.Result.WARN)
    client.force_login(carol_csr)

    def listed(**query):
        return [c.pk for c, _ in client.get(CORRELATIONS, query).context["rows"]]

    html = client.get(CORRELATIONS).content.decode()
    assert listed() == [failed.pk]
    assert listed(result="warn") == [warned.pk]
    assert listed(result="any") == [failed.pk, warned.pk]
    assert "2 intervals where the PEV used more than the premise meter saw" in html
    assert "2026-03-02 03:30" in html
    assert "800 Wh" in html  # the excess
    assert failed.binding.vin in html


def test_it_clears_a_failed_session_with_a_note(client, carol_csr, home):
    failed = failed_session(home)
    client.force_login(carol_csr)

    response = client.post(
        f"{CORRELATIONS}{failed.binding_id}/clear/",
        {"note": "Premise meter under-read; replaced 3 March", "next": CORRELATIONS},
        follow=True,
    )

    assert "Cleared" in response.content.decode()
    assert response.context["rows"] == []
    failed.refresh_from_db()
    assert failed.counts_as_bound
    assert (failed.cleared_by, failed.clear_note) == (carol_csr, "Premise meter under-read; replaced 3 March")
    assert audit("load_correlation.cleared", LoadCorrelation).actor == carol_csr


def test_it_clears_only_a_failed_session_and_only_with_a_note(client, carol_csr, home, session):
    failed = failed_session(home, start=PLUGGED_IN + dt.timedelta(days=1))
    client.force_login(carol_csr)

    no_note = client.post(f"{CORRELATIONS}{failed.binding_id}/clear/", {"note": ""}, follow=True)
    passed = client.post(f"{CORRELATIONS}{session.pk}/clear/", {"note": "Looks fine"}, follow=True)

    assert "write a note" in no_note.content.decode()
    assert "Only a failed correlation can be cleared" in passed.content.decode()
    assert not LoadCorrelation.objects.filter(cleared_at__isnull=False).exists()
    with pytest.raises(review.NotAFail):
        review.clear_correlation(session.correlation, by=carol_csr, note="Looks fine")


def test_it_shows_one_sessions_correlation(client, carol_csr, home):
    failed = failed_session(home)
    not_yet = home.session(PLUGGED_IN + dt.timedelta(days=1), None)
    client.force_login(carol_csr)

    html = client.get(f"{CORRELATIONS}{failed.binding_id}/").content.decode()
    waiting = client.get(f"{CORRELATIONS}{not_yet.pk}/").content.decode()

    assert "Fail" in html
    assert "Clear this session" in html
    assert f"/csr/bindings/{failed.binding_id}/" in html
    assert "Not correlated yet." in waiting


def test_it_lists_the_queues_in_a_fixed_number_of_queries(
    client, carol_csr, home, session, django_assert_max_num_queries
):
    for minutes in range(0, 75, 15):
        premise_revision(home, wh=500 + minutes, at=PLUGGED_IN + dt.timedelta(minutes=minutes))
        pev_revision(home, session, wh=600 + minutes, at=PLUGGED_IN + dt.timedelta(minutes=minutes))
    for day in range(1, 6):
        failed_session(home, start=PLUGGED_IN + dt.timedelta(days=day))
    client.force_login(carol_csr)

    with django_assert_max_num_queries(8):
        revisions = client.get(REVISIONS)
    with django_assert_max_num_queries(8):
        correlations = client.get(CORRELATIONS)

    assert revisions.context["page"].paginator.count == 10
    assert len(correlations.context["rows"]) == 5


def test_a_bound_sessions_page_links_to_its_correlation(client, carol_csr, session):
    client.force_login(carol_csr)
    page = client.get(f"/csr/bindings/{session.pk}/")

    assert page.status_code == 200
    assert f"/csr/metering/correlations/{session.pk}/" in page.content.decode()
