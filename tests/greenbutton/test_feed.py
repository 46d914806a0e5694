"""The ESPI feed (Green Button Download My Data, Req 24): valid against NAESB's schema, the stored reads as
they are, each interval priced as billing prices it, local days of the tariff's zone (issue 7)."""

import datetime as dt
import zoneinfo
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from lxml import etree

from billing.bills import bill_premises
from billing.models import Bill, Tariff
from billing.schedule import price_schedule
from metering.greenbutton import dst_rules, green_button_feed
from metering.models import Flag, LoadCorrelation, PevRead, PremiseRead
from tests.billing.billing_homes import LA, local
from tests.greenbutton.conftest import ATOM, ESPI, SCHEMA, entries, parse

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 4, 2, 12, tzinfo=dt.UTC)
MARCH = dt.date(2026, 3, 1)


def feed(home, first=dt.date(2026, 3, 7), last=dt.date(2026, 3, 9)):
    return parse(green_button_feed(home.premise, first, last, now=NOW))


def readings(block: etree._Element) -> list[dict]:
    out = []
    for reading in block.findall(f"{ESPI}IntervalReading"):
        out.append(
            {
                "start": int(reading.findtext(f"{ESPI}timePeriod/{ESPI}start")),
                "duration": int(reading.findtext(f"{ESPI}timePeriod/{ESPI}duration")),
                "value": int(reading.findtext(f"{ESPI}value")),
                "cost": int(reading.findtext(f"{ESPI}cost")),
                "tou": int(reading.findtext(f"{ESPI}tou")),
                "quality": [int(q.text) for q in reading.findall(f"{ESPI}ReadingQuality/{ESPI}quality")],
            }
        )
    return out


def usage_points(document) -> dict[str, list[dict]]:
    """Readings by usage point title, following the entries in document order."""
    points: dict[str, list[dict]] = {}
    current = None
    for entry in document.findall(f"{ATOM}entry"):
        resource = entry.find(f"{ATOM}content")[0]
        if resource.tag == f"{ESPI}UsagePoint":
            current = entry.findtext(f"{ATOM}title")
            points[current] = []
        elif resource.tag == f"{ESPI}IntervalBlock":
            points[current].extend(readings(resource))
    return points


def expected_cost(wh: int, price: Decimal) -> int:
    return int((Decimal(wh) * price * 100).quantize(Decimal(1), ROUND_HALF_UP))


def test_it_validates_against_the_espi_schema_in_atom_entries(home):
    home.premise_reads(local(2026, 3, 7), local(2026, 3, 10))
    home.session(local(2026, 3, 8, 1), local(2026, 3, 8, 4))
    document = feed(home)

    assert document.tag == f"{ATOM}feed"
    assert document.findtext(f"{ATOM}id").startswith("urn:uuid:")
    ids = [entry.findtext(f"{ATOM}id") for entry in document.findall(f"{ATOM}entry")]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("urn:uuid:") for i in ids)
    for entry in document.findall(f"{ATOM}entry"):
        # Atom's required children, then exactly one ESPI resource, valid against espi.xsd.
        assert [entry.find(f"{ATOM}{tag}") is not None for tag in ("id", "title", "updated")] == [True] * 3
        content = entry.find(f"{ATOM}content")
        assert len(content) == 1
        assert content[0].tag.startswith(ESPI)
        SCHEMA.assertValid(etree.ElementTree(content[0]))
    kinds = [e.find(f"{ATOM}content")[0].tag.removeprefix(ESPI) for e in document.findall(f"{ATOM}entry")]
    # Premise: usage point, meter reading, reading type, 3 daily blocks; then the PEV submeter's (one day).
    assert kinds == [
        "LocalTimeParameters",
        *["UsagePoint", "MeterReading", "ReadingType", "IntervalBlock", "IntervalBlock", "IntervalBlock"],
        *["UsagePoint", "MeterReading", "ReadingType", "IntervalBlock"],
    ]
    premise_type, _ = entries(document, "ReadingType")
    assert {child.tag.removeprefix(ESPI): child.text for child in premise_type} == {
        "accumulationBehaviour": "4",
        "commodity": "1",
        "currency": "840",
        "dataQualifier": "12",
        "flowDirection": "1",
        "intervalLength": "900",
        "kind": "12",
        "powerOfTenMultiplier": "0",
        "uom": "72",
    }
    assert [up.findtext(f"{ESPI}roleFlags") for up in entries(document, "UsagePoint")] == ["0012", "0004"]


def test_ids_are_the_same_in_every_download(home):
    home.premise_reads(local(2026, 3, 7), local(2026, 3, 8))
    first, second = feed(home), feed(home)

    def ids(document):
        return [entry.findtext(f"{ATOM}id") for entry in document.findall(f"{ATOM}entry")]

    assert ids(first) == ids(second)


def test_values_are_the_stored_reads_and_costs_the_billing_prices(home):
    home.premise_reads(local(2026, 3, 7), local(2026, 3, 10), wh=list(range(3 * 96 - 4)))
    home.session(local(2026, 3, 9, 1), local(2026, 3, 9, 3))  # bound: EV Prime's price
    home.session(local(2026, 3, 9, 17), local(2026, 3, 9, 18), bound=False, wh=900)  # declined: default rate
    points = usage_points(feed(home))
    premise_points, pev_points = points.values()

    default = price_schedule(home.premise.default_tariff, local(2026, 3, 7), local(2026, 3, 10))
    stored = list(PremiseRead.objects.order_by("interval_start").values_list("interval_start", "wh"))
    assert [(r["start"], r["value"]) for r in premise_points] == [
        (int(t.timestamp()), wh) for t, wh in stored
    ]
    by_start = {int(interval.start.timestamp()): interval for interval in default}
    for reading in premise_points:
        interval = by_start[reading["start"]]
        assert reading["cost"] == expected_cost(reading["value"], interval.price)
        assert reading["tou"] == interval.period_index + 1

    prime = price_schedule(Tariff.objects.get(code="SCE-TOU-D-PRIME"), local(2026, 3, 9), local(2026, 3, 10))
    prime_by_start = {int(interval.start.timestamp()): interval for interval in prime}
    pev_reads = list(PevRead.objects.order_by("interval_start").values_list("interval_start", "wh"))
    assert [(r["start"], r["value"]) for r in pev_points] == [(int(t.timestamp()), wh) for t, wh in pev_reads]
    bound, declined = pev_points[:8], pev_points[8:]
    assert [r["cost"] for r in bound] == [
        expected_cost(1800, prime_by_start[r["start"]].price) for r in bound
    ]  # 1800 Wh × $0.25362 = 45652 hundred-thousandths of a dollar
    assert bound[0]["cost"] == 45652
    assert [r["cost"] for r in declined] == [expected_cost(900, by_start[r["start"]].price) for r in declined]


def test_a_failed_correlation_is_priced_at_the_default_rate(home):
    session = home.session(local(2026, 3, 9, 1), local(2026, 3, 9, 2))
    LoadCorrelation.objects.create(binding=session, result="fail", checked_at=NOW)
    (pev_points,) = [p for title, p in usage_points(feed(home)).items() if "EUMD" in title]

    default = price_schedule(home.premise.default_tariff, local(2026, 3, 9, 1), local(2026, 3, 9, 2))
    assert [r["cost"] for r in pev_points] == [expected_cost(1800, i.price) for i in default]


def test_a_dst_day_has_23_hours_of_readings_in_one_block(home):
    home.premise_reads(local(2026, 3, 7), local(2026, 3, 10))
    document = feed(home)
    blocks = entries(document, "IntervalBlock")

    spring_forward = blocks[1]
    assert int(spring_forward.findtext(f"{ESPI}interval/{ESPI}start")) == int(local(2026, 3, 8).timestamp())
    assert int(spring_forward.findtext(f"{ESPI}interval/{ESPI}duration")) == 23 * 3600
    assert len(spring_forward.findall(f"{ESPI}IntervalReading")) == 92
    assert [len(b.findall(f"{ESPI}IntervalReading")) for b in blocks] == [96, 92, 96]
    (parameters,) = entries(document, "LocalTimeParameters")
    assert [parameters.findtext(f"{ESPI}{tag}") for tag in ("dstStartRule", "dstEndRule")] == [
        "360E2000",  # second Sunday of March, 2 a.m.
        "B40E2000",  # first Sunday of November, 2 a.m.
    ]
    assert parameters.findtext(f"{ESPI}tzOffset") == "-28800"
    assert parameters.findtext(f"{ESPI}dstOffset") == "3600"


def test_a_zone_without_dst_has_its_rules_disabled():
    assert dst_rules(zoneinfo.ZoneInfo("America/Phoenix"), 2026) == ("FFFFFFFF", "FFFFFFFF", 0, -25200)
    assert dst_rules(LA, 2026) == ("360E2000", "B40E2000", 3600, -28800)


def test_flagged_and_estimated_reads_carry_their_quality(home):
    home.premise_reads(local(2026, 3, 7), local(2026, 3, 7, 1))
    starts = list(PremiseRead.objects.order_by("interval_start").values_list("interval_start", flat=True))
    PremiseRead.objects.filter(interval_start=starts[1]).update(flags=Flag.ESTIMATED)
    PremiseRead.objects.filter(interval_start=starts[2]).update(flags=Flag.NEGATIVE | Flag.ESTIMATED)
    (premise_points,) = [p for title, p in usage_points(feed(home)).items() if "revenue meter" in title]

    assert [r["quality"] for r in premise_points] == [[], [8], [8, 10], []]


def test_the_premise_usage_point_carries_its_bills(home):
    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    bill_premises([home.premise.pk], MARCH, now=NOW)
    bill = Bill.objects.get()
    (summary,) = entries(feed(home, dt.date(2026, 3, 30), dt.date(2026, 4, 2)), "UsageSummary")

    assert int(summary.findtext(f"{ESPI}billLastPeriod")) == int(bill.total * 100_000)
    assert int(summary.findtext(f"{ESPI}billingPeriod/{ESPI}start")) == int(bill.starts_at.timestamp())
    assert int(summary.findtext(f"{ESPI}billingPeriod/{ESPI}duration")) == 743 * 3600
    assert summary.findtext(f"{ESPI}currency") == "840"


def test_the_query_count_does_not_grow_with_the_days(home):
    """A fixed number of queries per download: one range query per usage point, whatever the days."""
    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    home.session(local(2026, 3, 9, 1), local(2026, 3, 9, 3))
    with CaptureQueriesContext(connection) as day:
        b"".join(green_button_feed(home.premise, dt.date(2026, 3, 9), dt.date(2026, 3, 9), now=NOW))
    with CaptureQueriesContext(connection) as month:
        b"".join(green_button_feed(home.premise, MARCH, dt.date(2026, 3, 31), now=NOW))

    assert len(month) == len(day) <= 25  # 6 of them per tariff priced (billing.schedule)


def test_the_day_the_clocks_go_back_has_25_hours(home):
    home.premise_reads(local(2026, 11, 1), local(2026, 11, 2))
    (block,) = entries(feed(home, dt.date(2026, 11, 1), dt.date(2026, 11, 1)), "IntervalBlock")

    assert int(block.findtext(f"{ESPI}interval/{ESPI}duration")) == 25 * 3600
    assert len(block.findall(f"{ESPI}IntervalReading")) == 100
