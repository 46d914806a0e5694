"""Importing tariff files: where tariffs, versions, utilities and holiday calendars are written (BR.3).

`import_tariff_file(path)` is what the `import_tariff` command and the demo-data loader call. It is atomic:
a file with any error imports nothing. Re-importing an identical file changes nothing; a file whose record
starts later than the tariff's latest version adds a version and closes the previous one. A version keeps
the holiday calendar it was imported with, so a calendar change is a new version and never re-rates a
past one.
"""

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from billing.holidays import build_calendar, years_needed
from billing.models import (
    Credit,
    CriticalPeakDay,
    HolidayCalendar,
    ObservedRule,
    Period,
    Season,
    Tariff,
    TariffVersion,
    Tier,
    Utility,
)
from billing.urdb import ParsedCalendar, ParsedTariff, TariffFileError, parse_urdb_text
from pevportal.audit import record, snapshot
from pevportal.models import Channel, ImportRun

IMPORT_KIND = "tariff"
ACTOR_LABEL = "import_tariff"
TARIFF_FIELDS = ("name", "utility", "time_zone", "source_url")
VERSION_AUDIT_FIELDS = (
    "tariff",
    "effective_start",
    "effective_end",
    "holiday_calendar",
    "urdb_label",
    "content_sha256",
)
CALENDAR_AUDIT_FIELDS = ("code", "name", "country", "holiday_names", "display_names", "observed_rule")


class Outcome:
    CREATED = "created"  # a new tariff with its first version
    NEW_VERSION = "new version"
    UNCHANGED = "unchanged"


@dataclass
class TariffOutcome:
    code: str
    effective_start: dt.date
    outcome: str


@dataclass
class ImportResult:
    """What an import did, for the command's output and the demo loader."""

    filename: str
    sha256: str
    already_imported: bool = False
    tariffs: list[TariffOutcome] = field(default_factory=list)
    ignored_fields: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(t.outcome != Outcome.UNCHANGED for t in self.tariffs)


def import_tariff_file(path: str | Path, *, actor_label: str = ACTOR_LABEL) -> ImportResult:
    """Import an OpenEI URDB JSON file (with optional "pevportal" extension); raises TariffFileError."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise TariffFileError([f"file: cannot read {path} ({exc.strerror})"]) from exc
    sha256 = hashlib.sha256(content).hexdigest()
    result = ImportResult(filename=path.name, sha256=sha256)
    if ImportRun.objects.filter(kind=IMPORT_KIND, sha256=sha256).exists():
        result.already_imported = True
        return result

    parsed = parse_urdb_text(content)
    result.ignored_fields = tuple(sorted({name for tariff in parsed for name in tariff.ignored_fields}))
    with transaction.atomic():
        for tariff in parsed:
            result.tariffs.append(import_tariff(tariff, warnings=result.warnings, actor_label=actor_label))
        ImportRun.objects.create(
            kind=IMPORT_KIND,
            sha256=sha256,
            filename=path.name,
            finished_at=timezone.now(),
            rows_total=len(parsed),
            rows_created=sum(t.outcome != Outcome.UNCHANGED for t in result.tariffs),
            rows_unchanged=sum(t.outcome == Outcome.UNCHANGED for t in result.tariffs),
        )
    return result


@transaction.atomic
def import_tariff(parsed: ParsedTariff, *, warnings: list[str] | None = None, actor_label: str = ACTOR_LABEL):
    """Write one parsed record: its utility, calendar, tariff row and version; returns a TariffOutcome.

    The version's holiday calendar is then built from the earliest start of the versions priced with it.
    """
    warnings = warnings if warnings is not None else []
    warnings.extend(parsed.warnings)
    calendar = _calendar_for(parsed, warnings, actor_label)
    utility = _utility_for(parsed, calendar, actor_label)
    calendar = calendar or utility.holiday_calendar
    tariff = _locked_tariff(parsed, utility, actor_label)
    outcome = _add_version(tariff, parsed, calendar, actor_label)
    if not tariff.versions.filter(effective_start__gt=parsed.effective_start).exists():
        # Only the latest rate sheet describes the tariff; re-importing an older one must not undo it.
        _update_tariff(tariff, parsed, utility, actor_label)
    build_calendar(calendar, years_needed(calendar), actor_label=actor_label)
    return outcome


def _calendar_for(parsed: ParsedTariff, warnings: list[str], actor_label: str) -> HolidayCalendar | None:
    if parsed.calendar is None:
        if not Utility.objects.filter(code=parsed.utility_code).exists():
            warnings.append(
                f"{parsed.code}: no pevportal.holiday_calendar and utility {parsed.utility_code!r} is new: "
                "its tariffs get a calendar with no holidays (only weekends use the weekend schedule)"
            )
        return None
    calendar = HolidayCalendar.objects.filter(code=parsed.calendar.code).first()
    if calendar is None:
        calendar = HolidayCalendar.objects.create(**_calendar_fields(parsed.calendar))
        record(
            action="holiday_calendar.created",
            target=calendar,
            channel=Channel.IMPORT,
            actor_label=actor_label,
            after=snapshot(calendar, CALENDAR_AUDIT_FIELDS),
        )
        return calendar
    if _calendar_fields(parsed.calendar) != {
        key: getattr(calendar, key) for key in _calendar_fields(parsed.calendar)
    }:
        raise TariffFileError(
            [f"pevportal.holiday_calendar: calendar {calendar.code!r} exists with a different definition"]
        )
    return calendar


def _calendar_fields(parsed: ParsedCalendar) -> dict:
    return {
        "code": parsed.code,
        "name": parsed.name,
        "country": parsed.country,
        "holiday_names": list(parsed.holiday_names),
        "display_names": dict(parsed.display_names),
        "observed_rule": parsed.observed_rule,
    }


def _utility_for(parsed: ParsedTariff, calendar: HolidayCalendar | None, actor_label: str) -> Utility:
    utility = Utility.objects.filter(code=parsed.utility_code).first()
    if utility is not None:
        return utility
    if calendar is None:
        calendar, _ = HolidayCalendar.objects.get_or_create(
            code=f"{parsed.utility_code}-no-holidays"[:64],
            defaults={
                "name": f"{parsed.utility_name}: no holidays",
                "holiday_names": [],
                "observed_rule": ObservedRule.NONE,
            },
        )
    utility = Utility.objects.create(
        code=parsed.utility_code, name=parsed.utility_name, eia_id=parsed.eia_id, holiday_calendar=calendar
    )
    record(
        action="utility.created",
        target=utility,
        channel=Channel.IMPORT,
        actor_label=actor_label,
        after=snapshot(utility, ("code", "name", "eia_id", "holiday_calendar")),
    )
    return utility


def _locked_tariff(parsed: ParsedTariff, utility: Utility, actor_label: str) -> Tariff:
    """The tariff row, locked so two imports of the same tariff cannot both add "the next" version."""
    tariff = Tariff.objects.select_for_update().filter(code=parsed.code).first()
    if tariff is None:
        tariff = Tariff.objects.create(
            code=parsed.code,
            name=parsed.name,
            utility=utility,
            time_zone=parsed.time_zone,
            source_url=parsed.source_url,
        )
        record(
            action="tariff.created",
            target=tariff,
            channel=Channel.IMPORT,
            actor_label=actor_label,
            after=snapshot(tariff, ("code", *TARIFF_FIELDS)),
        )
    elif tariff.time_zone != parsed.time_zone and tariff.versions.exists():
        raise TariffFileError(
            [
                f"pevportal.time_zone: {tariff.code}'s versions are priced in {tariff.time_zone}; "
                f"{parsed.time_zone} would move the hours of every past version"
            ]
        )
    return tariff


def _update_tariff(tariff: Tariff, parsed: ParsedTariff, utility: Utility, actor_label: str) -> None:
    before = snapshot(tariff, TARIFF_FIELDS)
    tariff.name, tariff.utility, tariff.time_zone = parsed.name, utility, parsed.time_zone
    tariff.source_url = parsed.source_url
    after = snapshot(tariff, TARIFF_FIELDS)
    if after != before:
        tariff.save(update_fields=list(TARIFF_FIELDS))
        record(
            action="tariff.updated",
            target=tariff,
            channel=Channel.IMPORT,
            actor_label=actor_label,
            before=before,
            after=after,
        )


def _add_version(
    tariff: Tariff, parsed: ParsedTariff, calendar: HolidayCalendar, actor_label: str
) -> TariffOutcome:
    fingerprint = parsed.fingerprint()
    start = parsed.effective_start
    same_start = tariff.versions.filter(effective_start=start).first()
    if same_start is not None:
        if same_start.content_sha256 == fingerprint:
            return TariffOutcome(tariff.code, start, Outcome.UNCHANGED)
        raise TariffFileError(
            [
                f"startdate: {tariff.code} already has a different version starting {start:%Y-%m-%d}; "
                "a corrected rate sheet needs its own start date"
            ]
        )
    latest = tariff.versions.order_by("-effective_start").first()
    if latest is not None and latest.effective_start > start:
        raise TariffFileError(
            [
                f"startdate: {start:%Y-%m-%d} is before {tariff.code}'s latest version "
                f"({latest.effective_start:%Y-%m-%d}); import versions in date order"
            ]
        )
    if latest is not None and (latest.effective_end is None or latest.effective_end > start):
        before = snapshot(latest, VERSION_AUDIT_FIELDS)
        latest.effective_end = start
        latest.save(update_fields=["effective_end"])
        record(
            action="tariff_version.closed",
            target=latest,
            channel=Channel.IMPORT,
            actor_label=actor_label,
            before=before,
            after=snapshot(latest, VERSION_AUDIT_FIELDS),
        )

    version = _create_version(tariff, parsed, calendar, fingerprint)
    record(
        action="tariff_version.created",
        target=version,
        channel=Channel.IMPORT,
        actor_label=actor_label,
        after=snapshot(version, VERSION_AUDIT_FIELDS),
        context={"urdb_label": parsed.urdb_label},
    )
    return TariffOutcome(tariff.code, start, Outcome.NEW_VERSION if latest else Outcome.CREATED)


def _create_version(
    tariff: Tariff, parsed: ParsedTariff, calendar: HolidayCalendar, fingerprint: str
) -> TariffVersion:
    cpp = parsed.critical_peak
    version = TariffVersion.objects.create(
        tariff=tariff,
        holiday_calendar=calendar,
        effective_start=parsed.effective_start,
        effective_end=parsed.effective_end,
        urdb_label=parsed.urdb_label,
        source_url=parsed.source_url,
        source_notes=parsed.source_notes,
        content_sha256=fingerprint,
        weekday_schedule=[list(row) for row in parsed.weekday_schedule],
        weekend_schedule=[list(row) for row in parsed.weekend_schedule],
        fixed_charge=parsed.fixed_charge,
        fixed_charge_unit=parsed.fixed_charge_unit,
        minimum_charge=parsed.minimum_charge,
        minimum_charge_unit=parsed.minimum_charge_unit,
        baseline_credit=parsed.baseline_credit,
        critical_peak_adder=cpp.adder if cpp else None,
        critical_peak_start_hour=cpp.start_hour if cpp else None,
        critical_peak_end_hour=cpp.end_hour if cpp else None,
    )
    Season.objects.bulk_create(
        Season(
            version=version, name=s.name, months=list(s.months), baseline_kwh_per_day=s.baseline_kwh_per_day
        )
        for s in parsed.seasons
    )
    periods = Period.objects.bulk_create(
        Period(version=version, index=p.index, label=p.label, kind=p.kind) for p in parsed.periods
    )
    Tier.objects.bulk_create(
        Tier(period=period, number=number, rate=tier.rate, adjustment=tier.adjustment, max_kwh=tier.max_kwh)
        for period, parsed_period in zip(periods, parsed.periods, strict=True)
        for number, tier in enumerate(parsed_period.tiers, start=1)
    )
    Credit.objects.bulk_create(
        Credit(version=version, name=c.name, amount=c.amount, unit=c.unit, applies_to=c.applies_to)
        for c in parsed.credits
    )
    if cpp:
        CriticalPeakDay.objects.bulk_create(
            CriticalPeakDay(version=version, date=day) for day in cpp.event_days
        )
    return version
