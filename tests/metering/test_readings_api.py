"""`POST /device/v1/readings` over signed HTTP: each read stored once, attributed to bound sessions,
retries answered with the first result, bad reads reported by index (issue 5; Req 20, 22, 25; BR.6)."""

import datetime as dt

import pytest
from django.utils import timezone

from metering.models import Flag, Meter, PevRead, ReadingBatch, ReadRevision
from tests.metering.homes import MeteredHome, stamp

pytestmark = pytest.mark.django_db


@pytest.fixture
def home(sce_programs, make_device):
    return MeteredHome(make_device)


def day_start(days_ago: int) -> dt.datetime:
    today = timezone.now().astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=days_ago)


def test_it_stores_each_read_once_and_attributes_the_bound_session(client, home):
    start = day_start(2)
    session = home.session(
        start + dt.timedelta(hours=1, minutes=5), start + dt.timedelta(hours=2, minutes=10)
    )
    response = home.post(client, home.reads(start, 16), batch_id="b-1")

    assert response.status_code == 200
    assert response.json() == {
        "batch_id": "b-1",
        "accepted": 16,
        "duplicates": 0,
        "conflicts": 0,
        "rejected": [],
    }
    reads = {r.interval_start: r for r in PevRead.objects.all()}
    assert len(reads) == 16
    # The session's first and last intervals overlap it only in part: the whole interval is attributed.
    bound = {t for t, r in reads.items() if r.binding_id == session.pk}
    assert bound == {start + dt.timedelta(minutes=15 * n) for n in range(4, 9)}
    assert {reads[t].enrollment_id for t in bound} == {home.enrollment.pk}
    unbound = [r for t, r in reads.items() if t not in bound]
    assert all(r.binding_id is None and r.enrollment_id is None for r in unbound)
    assert {r.premise_id for r in reads.values()} == {home.premise.pk}


def test_a_retried_batch_gets_the_first_answer_and_stores_nothing_more(client, home):
    reads = home.reads(day_start(2), 8)
    first = home.post(client, reads, batch_id="retry-me")
    again = home.post(client, reads, batch_id="retry-me")

    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert PevRead.objects.count() == 8
    assert ReadingBatch.objects.count() == 1


def test_a_batch_id_reused_with_another_payload_is_a_conflict(client, home):
    home.post(client, home.reads(day_start(2), 4), batch_id="once")
    response = home.post(client, home.reads(day_start(2), 4, wh=900), batch_id="once")

    assert response.status_code == 409
    assert "batch_id" in response.json()["detail"]
    assert set(PevRead.objects.values_list("wh", flat=True)) == {1500}


def test_a_resent_read_is_a_duplicate_and_a_different_value_a_revision(client, home):
    start = day_start(2)
    home.post(client, home.reads(start, 4), batch_id="first")
    resent = home.reads(start, 2) + home.reads(start + dt.timedelta(minutes=30), 2, wh=1700)
    response = home.post(client, resent, batch_id="second")

    assert response.json() == {
        "batch_id": "second",
        "accepted": 0,
        "duplicates": 2,
        "conflicts": 2,
        "rejected": [],
    }
    assert set(PevRead.objects.values_list("wh", flat=True)) == {1500}
    revisions = ReadRevision.objects.order_by("interval_start")
    assert [(r.stored_wh, r.wh, r.reason, r.status) for r in revisions] == [
        (1500, 1700, "conflict", "open")
    ] * 2
    # The same conflicting value sent again is counted, not kept twice.
    home.post(client, resent, batch_id="third")
    assert ReadRevision.objects.count() == 2


def test_it_rejects_bad_reads_by_index_and_stores_the_rest(client, home):
    start = day_start(2)
    good = home.reads(start, 1)[0]
    future = timezone.now() + dt.timedelta(hours=1)
    bad = [
        good,
        {**good, "interval_start": stamp(start + dt.timedelta(minutes=20))},
        {**good, "interval_start": stamp(future.replace(minute=0, second=0))},
        {**good, "interval_start": "2026-01-01 00:00:00"},
        {**good, "pev_id": "1HGCM82633A004353"},
        {**good, "interval_seconds": 700},
        {**good, "wh": 1.5},
        {**good, "colour": "red"},
        "not a read",
        {**good, "wh": 1400},
        {**good, "interval_start": stamp(start + dt.timedelta(minutes=15)), "quality": "guessed"},
    ]
    result = home.post(client, bad, batch_id="mixed").json()

    assert result["accepted"] == 1
    reasons = {r["index"]: r["reason"] for r in result["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert "aligned" in reasons[1]
    assert "future" in reasons[2]
    assert "YYYY-MM-DDTHH:MM:SSZ" in reasons[3]
    assert "check digit" in reasons[4]
    assert "divide an hour" in reasons[5]
    assert "integer" in reasons[6]
    assert "colour" in reasons[7]
    assert "object" in reasons[8]
    assert "read 0 of this batch" in reasons[9]
    assert "quality" in reasons[10]
    assert PevRead.objects.count() == 1


def test_it_flags_negative_and_impossible_and_estimated_reads(client, home):
    start = day_start(2)
    reads = home.reads(start, 3)
    reads[0]["wh"] = -20
    reads[1]["wh"] = 19_200 // 4 + 1  # more than 19.2 kW for a quarter-hour
    reads[2]["quality"] = "estimated"
    home.post(client, reads)

    flags = [r.flags for r in PevRead.objects.order_by("interval_start")]
    assert flags == [Flag.NEGATIVE, Flag.ABOVE_MAXIMUM, Flag.ESTIMATED]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reads": []}, "batch_id"),
        ({"batch_id": "x" * 65, "reads": []}, "batch_id"),
        ({"batch_id": "ok", "reads": {}}, "reads"),
        ({"batch_id": "ok", "reads": []}, "reads"),
    ],
)
def test_a_malformed_batch_is_refused_and_changes_nothing(client, home, body, field):
    response = home.post(client, None, body=body)

    assert response.status_code == 400
    assert field in response.json()["field_errors"]
    assert not ReadingBatch.objects.exists()
    assert not PevRead.objects.exists()


def test_a_batch_over_the_read_limit_is_refused(client, home, settings):
    settings.METERING_MAX_BATCH_READS = 10
    response = home.post(client, home.reads(day_start(2), 11))

    assert response.status_code == 400
    assert not PevRead.objects.exists()


def test_an_esci_cannot_post_readings(client, home):
    response = home.post(client, home.reads(day_start(2), 2), device=home.esci, key=home.esci_key)

    assert response.status_code == 403
    assert not PevRead.objects.exists()


def test_after_an_interval_change_only_the_new_length_is_accepted(client, home):
    switch = day_start(2) + dt.timedelta(hours=6)
    home.eumd.interval_seconds, home.eumd.interval_since = 300, switch
    home.eumd.save()
    before = home.reads(switch - dt.timedelta(hours=1), 4)
    old_after = home.reads(switch, 2)
    new_after = home.reads(switch + dt.timedelta(hours=1), 3, seconds=300, wh=500)
    result = home.post(client, before + old_after + new_after).json()

    assert result["accepted"] == 7
    assert [r["index"] for r in result["rejected"]] == [4, 5]
    assert "300 s in force since" in result["rejected"][0]["reason"]


def test_a_read_for_a_billed_interval_is_kept_for_review_not_stored(client, home):
    start = day_start(3)
    home.post(client, home.reads(start, 2), batch_id="early")
    Meter.objects.filter(eumd=home.eumd).update(billed_through=start + dt.timedelta(hours=1))
    late = home.reads(start, 4, wh=1600)  # two conflict with stored reads, two are new but billed
    result = home.post(client, late, batch_id="late").json()

    assert (result["accepted"], result["conflicts"]) == (0, 4)
    assert PevRead.objects.count() == 2
    assert sorted(ReadRevision.objects.values_list("reason", flat=True)) == [
        "billed",
        "billed",
        "conflict",
        "conflict",
    ]


def test_reads_naming_another_pev_stay_premise_energy(client, home):
    start = day_start(2)
    home.session(start, start + dt.timedelta(hours=1))
    home.post(client, home.reads(start, 2, vin="1M8GDM9AXKP042788"))

    read = PevRead.objects.first()
    assert read.binding_id is None
    assert read.enrollment_id is None
    assert read.flags & Flag.OTHER_PEV


def test_a_declined_plug_in_leaves_the_energy_with_the_premise(client, home):
    start = day_start(2)
    home.session(start, start + dt.timedelta(hours=1), bound=False)
    home.post(client, home.reads(start, 4))

    assert set(PevRead.objects.values_list("binding_id", "enrollment_id")) == {(None, None)}


def test_a_batch_signed_by_a_drifting_clock_flags_its_reads(home):
    from metering import readings

    now = timezone.now()
    reads = home.reads(day_start(2), 2)
    for signed_at, expected in ((now - dt.timedelta(seconds=30), Flag.CLOCK_DRIFT), (now, 0)):
        batch = readings.Batch(
            eumd=home.eumd, batch_id=f"drift-{expected}", reads=reads, request_sha256="x", signed_at=signed_at
        )
        readings.receive(batch, now=now)
        assert list(PevRead.objects.values_list("flags", flat=True)) == [expected, expected]
        PevRead.objects.all().delete()


def test_the_readings_endpoint_is_in_the_openapi_schema(client, db):
    schema = client.get("/api/schema/", headers={"accept": "application/json"}).json()

    operation = schema["paths"]["/device/v1/readings"]["post"]
    assert operation["operationId"] == "readings_create"
    assert {"200", "400", "401", "403", "409", "413", "429"} <= set(operation["responses"])


def test_a_batch_filling_gaps_between_stored_reads_stores_them(client, home):
    reads = home.reads(day_start(2), 8)
    home.post(client, reads[::2], batch_id="odd")
    result = home.post(client, reads, batch_id="all").json()

    assert (result["accepted"], result["duplicates"], result["conflicts"]) == (4, 4, 0)
    assert PevRead.objects.count() == 8
    assert not ReadRevision.objects.exists()


def test_reads_of_another_length_over_stored_ones_are_conflicts_not_counted_twice(client, home):
    start = day_start(2)
    home.post(client, home.reads(start, 4, wh=1500), batch_id="quarters")
    result = home.post(client, home.reads(start, 12, seconds=300, wh=500), batch_id="fives").json()

    assert (result["accepted"], result["conflicts"]) == (0, 12)
    assert sum(PevRead.objects.values_list("wh", flat=True)) == 6000


def test_reads_overlapping_within_a_batch_are_rejected(client, home):
    start = day_start(2)
    reads = home.reads(start, 1) + home.reads(start + dt.timedelta(minutes=5), 1, seconds=300)
    result = home.post(client, reads).json()

    assert result["accepted"] == 1
    assert result["rejected"] == [{"index": 1, "reason": "overlaps read 0 of this batch (another length)"}]
