"""Green Button Download My Data (NAESB REQ.21 ESPI; issue 7): a premise's interval reads as ESPI XML.

One usage point for the premise's revenue meter (the whole premise, PEV charging included — BR.8) and one for
each PEV submeter (EUMD) of the premise — the PEV as its own usage point (Req 20, 21). Each has a
MeterReading, a ReadingType (energy in Wh, 1/100000 USD costs) and one IntervalBlock per local day of the
premise's tariff zone; every IntervalReading carries its energy, its cost at the price billing applies to
it (`billing.schedule.price_segments`), its TOU period and, for a flagged or estimated read, a
ReadingQuality. The premise usage point also carries the premise's bills as UsageSummary entries.

Element order follows NAESB's espi.xsd (version 4.0, 2023-12-13); the tests validate every resource
against it (tests/greenbutton/espi-excerpt.xsd). Ids are `urn:uuid`s derived from our keys, so the same
resource has the same id in every download. docs/greenbutton.md has the field-by-field mapping.

`green_button_feed` does its lookups when called — so a bad premise or range fails before a response
starts — and returns a generator of UTF-8 chunks that reads the intervals in order, one range query per
usage point, streamed from the database.
"""

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from xml.sax.saxutils import escape, quoteattr

from django.db.models import Max, Q
from django.utils.translation import gettext as _

from billing.schedule import price_segments, segments_at
from metering.models import Flag, LoadCorrelation, Meter, MeterKind, PevRead, PremiseRead

UTC = dt.UTC
ESPI_NS = "http://naesb.org/espi"
ATOM_NS = "http://www.w3.org/2005/Atom"
# Thirteen consecutive months are at most 397 days (a leap February among them).
MAX_DAYS = 397
CHUNK_ROWS = 2000
# Stable ids: the same premise, meter or day gets the same urn:uuid in every download.
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:pevportal:espi")

# ESPI codes (espi.xsd enumerations).
KIND_ENERGY = 12
UOM_WH = 72
ACCUMULATION_DELTA = 4  # deltaData: the energy of the interval
COMMODITY_ELECTRICITY = 1  # electricity SecondaryMetered
FLOW_FORWARD = 1  # delivered to the premise
CURRENCY_USD = 840
DATA_QUALIFIER_NORMAL = 12
SERVICE_ELECTRICITY = 0
QUALITY_ESTIMATED = 8  # "estimated using reference day": ESPI's code for a meter's estimate
QUALITY_QUESTIONABLE = 10  # failed one or more checks
# UsagePoint.roleFlags, bits counted from 1 as espi.xsd numbers them.
ROLE_PREMISES_AGGREGATION_POINT = 1 << 1
ROLE_PEV = 1 << 2
ROLE_REVENUE_QUALITY = 1 << 4
DST_DISABLED = "FFFFFFFF"
COST_UNITS_PER_KWH_DOLLAR = Decimal(100)  # Wh × $/kWh × 100 = hundred-thousandths of a dollar

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_QUESTIONABLE = Flag.NEGATIVE | Flag.ABOVE_MAXIMUM | Flag.CLOCK_DRIFT | Flag.OTHER_PEV


class GreenButtonRangeError(ValueError):
    """The requested days are missing, malformed, reversed, in the future or longer than 13 months."""


def parse_range(start: str | None, end: str | None, *, today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last local day (inclusive) of a download, from `YYYY-MM-DD` query values."""
    if not start or not end:
        raise GreenButtonRangeError(_("Give both a start and an end date (YYYY-MM-DD)."))
    days = []
    for name, value in (("start", start), ("end", end)):
        try:
            if not _DATE.match(value):
                raise ValueError
            days.append(dt.date.fromisoformat(value))
        except ValueError:
            raise GreenButtonRangeError(
                _("%(name)s %(value)s is not a date in the form YYYY-MM-DD.") % {"name": name, "value": value}
            ) from None
    first, last = days
    if last < first:
        raise GreenButtonRangeError(_("The end date is before the start date."))
    if first > today:
        raise GreenButtonRangeError(_("The start date is in the future."))
    if (last - first).days + 1 > MAX_DAYS:
        raise GreenButtonRangeError(
            _("A download covers at most 13 months (%(days)d days); ask for a shorter range.")
            % {"days": MAX_DAYS}
        )
    return first, last


def feed_filename(premise, first_day: dt.date, last_day: dt.date) -> str:
    return f"green-button-{premise.premise_id}-{first_day:%Y%m%d}-{last_day:%Y%m%d}.xml"


def green_button_feed(premise, first_day: dt.date, last_day: dt.date, *, now: dt.datetime) -> Iterator[bytes]:
    """The ESPI feed of `premise` over local days first_day..last_day, as UTF-8 chunks (Req 24).

    The caller decides who may see the premise (e.g. `Premise.objects.for_user`) and validates the range
    (`parse_range`). Lookups run now; the reads are streamed as the generator is consumed.
    """
    return _Feed(premise, first_day, last_day, now).chunks()


def _uid(*parts) -> str:
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, ':'.join(str(p) for p in parts))}"


def _epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def _xml_time(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _interval(tag: str, start: dt.datetime, seconds: int) -> str:
    return f"<{tag}><duration>{seconds}</duration><start>{_epoch(start)}</start></{tag}>"


class _UsagePoint:
    """One usage point of the feed: a meter (or the premise before its first read) and how it is priced."""

    def __init__(self, key: str, title: str, role_flags: int, meter: Meter | None, interval_seconds: int):
        self.key, self.title, self.role_flags = key, title, role_flags
        self.meter, self.interval_seconds = meter, interval_seconds


class _Feed:
    def __init__(self, premise, first_day: dt.date, last_day: dt.date, now: dt.datetime):
        self.premise, self.first_day, self.last_day, self.now = premise, first_day, last_day, now
        self.default_tariff = premise.default_tariff
        self.zone = self.default_tariff.zone
        self.start = dt.datetime.combine(first_day, dt.time(), self.zone).astimezone(UTC)
        self.end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), self.zone).astimezone(UTC)
        self.base = f"RetailCustomer/{premise.account.number}/UsagePoint"
        self.updated = _xml_time(now)
        self._load()

    # --- lookups (eager) ----------------------------------------------------------------------------

    def _load(self) -> None:
        from billing.models import Bill
        from enrollment.models import Enrollment

        premise = self.premise
        premise_meter = Meter.objects.filter(kind=MeterKind.PREMISE, premise=premise).first()
        eumd_meters = list(
            Meter.objects.filter(kind=MeterKind.EUMD)
            .filter(Q(eumd__premise=premise) | Q(eumd__pev__enrollments__premise=premise))
            .select_related("eumd")
            .distinct()
            .order_by("pk")
        )
        pev = PevRead.objects.filter(meter_id__in=[m.pk for m in eumd_meters], premise_id=premise.pk)
        premise_reads = PremiseRead.objects.filter(meter_id=premise_meter.pk if premise_meter else None)
        # ReadingType.intervalLength per meter; every reading also carries its own duration (Req 25).
        lengths = {}
        for reads in (premise_reads, pev):
            lengths.update(
                reads.filter(interval_start__gte=self.start, interval_start__lt=self.end)
                .values_list("meter_id")
                .annotate(seconds=Max("interval_seconds"))
                .order_by()
            )
        pev = pev.filter(interval_start__gte=self.start, interval_start__lt=self.end)
        enrollment_ids = set(
            pev.exclude(enrollment_id=None).values_list("enrollment_id", flat=True).distinct()
        )
        self.enrollments = {
            e.pk: e
            for e in Enrollment.objects.filter(pk__in=enrollment_ids)
            .select_related("plan__tariff")
            .prefetch_related("plan_assignments__plan__tariff")
        }
        # A session whose load correlation failed is billed at the default rate until a CSR clears it.
        self.failed = set(
            LoadCorrelation.objects.filter(
                result=LoadCorrelation.Result.FAIL, cleared_at__isnull=True, binding__premise=premise
            ).values_list("binding_id", flat=True)
        )
        self.points = [
            _UsagePoint(
                f"premise:{premise.pk}",
                _("Premise %(premise)s (revenue meter %(meter)s)")
                % {"premise": premise.premise_id, "meter": premise.meter_id},
                ROLE_PREMISES_AGGREGATION_POINT | ROLE_REVENUE_QUALITY,
                premise_meter,
                lengths.get(premise_meter.pk if premise_meter else None, 900),
            )
        ]
        for meter in eumd_meters:
            self.points.append(
                _UsagePoint(
                    f"eumd:{meter.eumd.lfdi}",
                    _("PEV submeter (EUMD) %(sfdi)s") % {"sfdi": meter.eumd.sfdi_display},
                    ROLE_PEV,
                    meter,
                    lengths.get(meter.pk, 900),
                )
            )
        tariffs = {self.default_tariff.pk: self.default_tariff}
        for enrollment in self.enrollments.values():
            tariffs.setdefault(enrollment.plan.tariff_id, enrollment.plan.tariff)
            for assignment in enrollment.plan_assignments.all():
                tariffs.setdefault(assignment.plan.tariff_id, assignment.plan.tariff)
        self.segments = {}
        for tariff_id, tariff in tariffs.items():
            try:
                self.segments[tariff_id] = price_segments(tariff, self.start, self.end)
            except LookupError:
                # No version in force for part of the range: the energy is still exported, without cost.
                self.segments[tariff_id] = None
        self.bills = list(
            Bill.objects.filter(premise=premise, starts_at__lt=self.end, ends_at__gt=self.start).order_by(
                "period"
            )
        )

    # --- the document -------------------------------------------------------------------------------

    def chunks(self) -> Iterator[bytes]:
        title = escape(
            _("Green Button data for premise %(premise)s, %(first)s to %(last)s")
            % {"premise": self.premise.premise_id, "first": self.first_day, "last": self.last_day}
        )
        yield (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<feed xmlns="{ATOM_NS}">'
            f"<id>{_uid('feed', self.premise.pk, self.first_day, self.last_day)}</id>"
            f"<title>{title}</title><updated>{self.updated}</updated>"
            '<link rel="self" href="Batch/RetailCustomer"/>'
        ).encode()
        yield self._local_time_parameters().encode()
        for index, point in enumerate(self.points):
            yield self._usage_point(point, summaries=index == 0).encode()
            yield from self._blocks(point, is_premise=index == 0)
            if index == 0:
                yield from (self._usage_summary(point, bill).encode() for bill in self.bills)
        yield b"</feed>\n"

    def _entry(self, uid: str, title: str, links: list[tuple[str, str, str]], resource: str) -> str:
        rendered = "".join(
            f"<link rel={quoteattr(rel)} href={quoteattr(href)} type={quoteattr(kind)}/>"
            for rel, href, kind in links
        )
        return (
            f"<entry><id>{uid}</id>{rendered}<title>{escape(title)}</title><content>{resource}</content>"
            f"<published>{self.updated}</published><updated>{self.updated}</updated></entry>"
        )

    def _local_time_parameters(self) -> str:
        start_rule, end_rule, dst_offset, tz_offset = dst_rules(self.zone, self.first_day.year)
        return self._entry(
            _uid("local-time", self.default_tariff.time_zone),
            self.default_tariff.time_zone,
            [("self", "LocalTimeParameters/1", "espi-entry/LocalTimeParameters")],
            f'<LocalTimeParameters xmlns="{ESPI_NS}"><dstEndRule>{end_rule}</dstEndRule>'
            f"<dstOffset>{dst_offset}</dstOffset><dstStartRule>{start_rule}</dstStartRule>"
            f"<tzOffset>{tz_offset}</tzOffset></LocalTimeParameters>",
        )

    def _usage_point(self, point: _UsagePoint, *, summaries: bool) -> str:
        href = f"{self.base}/{point.key}"
        links = [
            ("self", href, "espi-entry/UsagePoint"),
            ("up", self.base, "espi-feed/UsagePoint"),
            ("related", f"{href}/MeterReading", "espi-feed/MeterReading"),
            ("related", "LocalTimeParameters/1", "espi-entry/LocalTimeParameters"),
        ]
        if summaries:
            links.append(("related", f"{href}/UsageSummary", "espi-feed/UsageSummary"))
        reading_href = f"{href}/MeterReading/1"
        return "".join(
            [
                self._entry(
                    _uid("usage-point", point.key),
                    point.title,
                    links,
                    f'<UsagePoint xmlns="{ESPI_NS}"><roleFlags>{point.role_flags:04X}</roleFlags>'
                    f"<ServiceCategory><kind>{SERVICE_ELECTRICITY}</kind></ServiceCategory>"
                    "<status>1</status></UsagePoint>",
                ),
                self._entry(
                    _uid("meter-reading", point.key),
                    _("Energy delivered (Wh), by interval"),
                    [
                        ("self", reading_href, "espi-entry/MeterReading"),
                        ("up", f"{href}/MeterReading", "espi-feed/MeterReading"),
                        ("related", f"{reading_href}/IntervalBlock", "espi-feed/IntervalBlock"),
                        ("related", f"ReadingType/{point.key}", "espi-entry/ReadingType"),
                    ],
                    f'<MeterReading xmlns="{ESPI_NS}"/>',
                ),
                self._entry(
                    _uid("reading-type", point.key),
                    _("Energy delivered (Wh) and its cost (USD)"),
                    [
                        ("self", f"ReadingType/{point.key}", "espi-entry/ReadingType"),
                        ("up", "ReadingType", "espi-feed/ReadingType"),
                    ],
                    f'<ReadingType xmlns="{ESPI_NS}">'
                    f"<accumulationBehaviour>{ACCUMULATION_DELTA}</accumulationBehaviour>"
                    f"<commodity>{COMMODITY_ELECTRICITY}</commodity><currency>{CURRENCY_USD}</currency>"
                    f"<dataQualifier>{DATA_QUALIFIER_NORMAL}</dataQualifier>"
                    f"<flowDirection>{FLOW_FORWARD}</flowDirection>"
                    f"<intervalLength>{point.interval_seconds}</intervalLength><kind>{KIND_ENERGY}</kind>"
                    f"<powerOfTenMultiplier>0</powerOfTenMultiplier><uom>{UOM_WH}</uom></ReadingType>",
                ),
            ]
        )

    def _usage_summary(self, point: _UsagePoint, bill) -> str:
        href = f"{self.base}/{point.key}/UsageSummary"
        seconds = int((bill.ends_at - bill.starts_at).total_seconds())
        total = int(bill.total * 100_000)  # whole cents, so exact in hundred-thousandths
        return self._entry(
            _uid("usage-summary", bill.pk),
            _("Bill for %(month)s") % {"month": f"{bill.period:%Y-%m}"},
            [
                ("self", f"{href}/{bill.pk}", "espi-entry/UsageSummary"),
                ("up", href, "espi-feed/UsageSummary"),
            ],
            f'<UsageSummary xmlns="{ESPI_NS}">{_interval("billingPeriod", bill.starts_at, seconds)}'
            f"<billLastPeriod>{total}</billLastPeriod><currency>{CURRENCY_USD}</currency>"
            f"<statusTimeStamp>{_epoch(bill.issued_at)}</statusTimeStamp>"
            f"<commodity>{COMMODITY_ELECTRICITY}</commodity></UsageSummary>",
        )

    # --- interval blocks (streamed) -----------------------------------------------------------------

    def _rows(self, point: _UsagePoint, is_premise: bool):
        if point.meter is None:
            return iter(())
        if is_premise:
            reads = PremiseRead.objects.filter(meter_id=point.meter.pk).values_list(
                "interval_start", "interval_seconds", "wh", "flags"
            )
        else:
            reads = PevRead.objects.filter(meter_id=point.meter.pk, premise_id=self.premise.pk).values_list(
                "interval_start", "interval_seconds", "wh", "flags", "enrollment_id", "binding_id"
            )
        return (
            reads.filter(interval_start__gte=self.start, interval_start__lt=self.end)
            .order_by("interval_start")
            .iterator(chunk_size=CHUNK_ROWS)
        )

    def _blocks(self, point: _UsagePoint, *, is_premise: bool) -> Iterator[bytes]:
        day_rows: list = []
        day = None
        for row in self._rows(point, is_premise):
            local_day = row[0].astimezone(self.zone).date()
            if day_rows and local_day != day:
                yield self._block(point, day, day_rows, is_premise).encode()
                day_rows = []
            day = local_day
            day_rows.append(row)
        if day_rows:
            yield self._block(point, day, day_rows, is_premise).encode()

    def _block(self, point: _UsagePoint, day: dt.date, rows: list, is_premise: bool) -> str:
        start = dt.datetime.combine(day, dt.time(), self.zone).astimezone(UTC)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), self.zone).astimezone(UTC)
        tariffs = [self.default_tariff.pk if is_premise else self._pev_tariff(row) for row in rows]
        prices = self._segments(tariffs, [row[0] for row in rows])
        readings = "".join(_reading(row, segment) for row, segment in zip(rows, prices, strict=True))
        href = f"{self.base}/{point.key}/MeterReading/1/IntervalBlock"
        return self._entry(
            _uid("interval-block", point.key, day),
            f"{day:%Y-%m-%d}",
            [
                ("self", f"{href}/{day:%Y%m%d}", "espi-entry/IntervalBlock"),
                ("up", href, "espi-feed/IntervalBlock"),
            ],
            f'<IntervalBlock xmlns="{ESPI_NS}">'
            f"{_interval('interval', start, int((end - start).total_seconds()))}{readings}</IntervalBlock>",
        )

    def _segments(self, tariffs: list[int], instants: list[dt.datetime]) -> list:
        """The price segment of each read under its tariff (None where the tariff cannot be priced)."""
        found: list = [None] * len(instants)
        for tariff_id in set(tariffs):
            segments = self.segments.get(tariff_id)
            if segments is None:
                continue
            positions = [n for n, t in enumerate(tariffs) if t == tariff_id]
            for n, segment in zip(
                positions, segments_at(segments, [instants[n] for n in positions]), strict=True
            ):
                found[n] = segment
        return found

    def _pev_tariff(self, row) -> int:
        """The tariff billing prices a PEV read at: its enrollment's plan in force at the interval for
        energy of a bound session that counts as bound, otherwise the premise's default rate (BR.4, BR.6)."""
        at, enrollment_id, binding_id = row[0], row[4], row[5]
        enrollment = self.enrollments.get(enrollment_id)
        if enrollment is None or binding_id in self.failed:
            return self.default_tariff.pk
        for assignment in enrollment.plan_assignments.all():
            if assignment.effective_from <= at and (
                assignment.effective_to is None or at < assignment.effective_to
            ):
                return assignment.plan.tariff_id
        return enrollment.plan.tariff_id


def _reading(row, segment) -> str:
    start, seconds, wh, flags = row[0], row[1], row[2], row[3]
    parts = ["<IntervalReading>"]
    if segment is not None:
        cost = (Decimal(wh) * segment.price * COST_UNITS_PER_KWH_DOLLAR).quantize(Decimal(1), ROUND_HALF_UP)
        parts.append(f"<cost>{cost}</cost>")
    if flags & Flag.ESTIMATED:
        parts.append(f"<ReadingQuality><quality>{QUALITY_ESTIMATED}</quality></ReadingQuality>")
    if flags & _QUESTIONABLE:
        parts.append(f"<ReadingQuality><quality>{QUALITY_QUESTIONABLE}</quality></ReadingQuality>")
    parts.append(f"{_interval('timePeriod', start, seconds)}<value>{wh}</value>")
    if segment is not None:
        # ESPI's tou 0 means "not applicable", so the tariff's period 0 is tou 1.
        parts.append(f"<tou>{segment.period_index + 1}</tou>")
        if segment.critical_peak:
            parts.append("<cpp>1</cpp>")
    parts.append("</IntervalReading>")
    return "".join(parts)


def dst_rules(zone, year: int) -> tuple[str, str, int, int]:
    """ESPI LocalTimeParameters of a zone in a year: dstStartRule, dstEndRule (espi.xsd DstRuleType bit maps,
    hex), dstOffset and tzOffset in seconds. America/Los_Angeles: 360E2000 (second Sunday of March, 2 a.m.),
    B40E2000 (first Sunday of November, 2 a.m.), 3600, -28800."""
    moment = dt.datetime(year, 1, 1, tzinfo=UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=UTC)
    offsets = {moment.astimezone(zone).utcoffset()}
    rules: dict[str, str] = {}
    step = dt.timedelta(minutes=15)
    previous = moment.astimezone(zone).utcoffset()
    while moment < end:
        moment += step
        offset = moment.astimezone(zone).utcoffset()
        offsets.add(offset)
        if offset != previous:
            wall = (moment + previous).replace(tzinfo=None)  # the local clock just before it changed
            rules["start" if offset > previous else "end"] = _rule(wall)
        previous = offset
    standard, daylight = min(offsets), max(offsets)
    if "start" not in rules or "end" not in rules:
        return DST_DISABLED, DST_DISABLED, 0, int(standard.total_seconds())
    return (
        rules["start"],
        rules["end"],
        int((daylight - standard).total_seconds()),
        int(standard.total_seconds()),
    )


def _rule(wall: dt.datetime) -> str:
    """Bits 28-31 month, 25-27 operator, 20-24 day of month, 17-19 weekday (Monday 1), 12-16 hour,
    0-11 seconds. A rule is a weekday's n-th occurrence, or its last when it is in the month's last week."""
    following = (wall.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    days_in_month = (following - dt.timedelta(days=1)).day
    operator = 7 if wall.day + 7 > days_in_month else 2 + (wall.day - 1) // 7
    value = (
        wall.month << 28
        | operator << 25
        | wall.isoweekday() << 17
        | wall.hour << 12
        | (wall.minute * 60 + wall.second)
    )
    return f"{value:08X}"
