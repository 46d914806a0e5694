"""Reading OpenEI Utility Rate Database (URDB) JSON, plus our "pevportal" extension object, into plain data.

Nothing here touches the database: `parse_urdb` either returns every record of a file as a `ParsedTariff`
or raises `TariffFileError` listing every problem, each prefixed with the field it is about
(e.g. ``energyweekdayschedule[3][17]: period 5 does not exist (3 periods)``). docs/tariffs.md describes
the format and the extension.
"""

import datetime as dt
import hashlib
import json
import re
import zoneinfo
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import holidays as holidays_package

from billing.models import DEFAULT_TIME_ZONE, ChargeUnit, ObservedRule, PeriodKind

EXTENSION_KEY = "pevportal"

# The URDB fields this importer reads; every other top-level field of a record is listed as ignored.
USED_FIELDS = frozenset(
    {
        "label",
        "uri",
        "name",
        "utility",
        "eiaid",
        "startdate",
        "enddate",
        "source",
        "energyratestructure",
        "energyweekdayschedule",
        "energyweekendschedule",
        "energytoulabels",
        "fixedchargefirstmeter",
        "fixedchargeunits",
        "fixedmonthlycharge",
        "mincharge",
        "minchargeunits",
        "minmonthlycharge",
        EXTENSION_KEY,
    }
)

CHARGE_UNITS = {"$/day": ChargeUnit.PER_DAY, "$/month": ChargeUnit.PER_MONTH}
TIER_UNITS = {"kWh"}
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class TariffFileError(ValueError):
    """A tariff file that cannot be imported; `errors` names each bad field."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class ParsedTier:
    rate: Decimal
    adjustment: Decimal
    max_kwh: Decimal | None


@dataclass(frozen=True)
class ParsedPeriod:
    index: int
    label: str
    kind: str
    tiers: tuple[ParsedTier, ...]


@dataclass(frozen=True)
class ParsedSeason:
    name: str
    months: tuple[int, ...]
    baseline_kwh_per_day: Decimal | None = None


@dataclass(frozen=True)
class ParsedCredit:
    name: str
    amount: Decimal
    unit: str


@dataclass(frozen=True)
class ParsedCalendar:
    code: str
    name: str
    country: str
    holiday_names: tuple[str, ...]
    observed_rule: str


@dataclass(frozen=True)
class ParsedCriticalPeak:
    adder: Decimal
    start_hour: int
    end_hour: int
    event_days: tuple[dt.date, ...]


@dataclass(frozen=True)
class ParsedTariff:
    """One URDB record with its extension, validated; the input of billing.tariffs.import_tariff."""

    code: str
    name: str
    utility_name: str
    utility_code: str
    eia_id: int | None
    time_zone: str
    calendar: ParsedCalendar | None
    effective_start: dt.date
    effective_end: dt.date | None
    urdb_label: str
    source_url: str
    source_notes: str
    periods: tuple[ParsedPeriod, ...]
    weekday_schedule: tuple[tuple[int, ...], ...]
    weekend_schedule: tuple[tuple[int, ...], ...]
    seasons: tuple[ParsedSeason, ...]
    fixed_charge: Decimal
    fixed_charge_unit: str
    minimum_charge: Decimal
    minimum_charge_unit: str
    credits: tuple[ParsedCredit, ...]
    baseline_credit: Decimal | None
    critical_peak: ParsedCriticalPeak | None
    ignored_fields: tuple[str, ...] = field(default=(), compare=False)

    def fingerprint(self) -> str:
        """SHA-256 of the numbers a version holds, so an identical re-import can be recognised."""
        content = asdict(self)
        for key in ("code", "name", "utility_name", "utility_code", "eia_id", "calendar", "ignored_fields"):
            content.pop(key)
        return hashlib.sha256(json.dumps(content, default=str, sort_keys=True).encode()).hexdigest()


def parse_urdb_text(text: str | bytes) -> list[ParsedTariff]:
    """Parse the text of a tariff file (see `parse_urdb`)."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TariffFileError([f"file: not valid JSON ({exc})"]) from exc
    return parse_urdb(data)


def parse_urdb(data: Any) -> list[ParsedTariff]:
    """Validate URDB data — one record, or ``{"items": [...]}`` as the URDB API returns — into tariffs.

    Raises TariffFileError naming every bad field; returns the records ordered by start date.
    """
    if isinstance(data, dict) and "items" in data:
        items = data["items"]
        if not isinstance(items, list) or not items:
            raise TariffFileError(["items: must be a non-empty list of URDB records"])
        prefixes = [f"items[{i}]." for i in range(len(items))] if len(items) > 1 else [""]
    elif isinstance(data, dict):
        items, prefixes = [data], [""]
    else:
        raise TariffFileError(['file: must be a URDB record (a JSON object) or {"items": [...]}'])

    errors: list[str] = []
    parsed = []
    for item, prefix in zip(items, prefixes, strict=True):
        reader = _RecordReader(item, prefix, errors)
        result = reader.read()
        if result is not None:
            parsed.append(result)
    if errors:
        raise TariffFileError(errors)
    return sorted(parsed, key=lambda tariff: (tariff.code, tariff.effective_start))


class _RecordReader:
    """Reads one record, appending "field: problem" messages instead of stopping at the first."""

    def __init__(self, record: Any, prefix: str, errors: list[str]):
        self.record = record
        self.prefix = prefix
        self.errors = errors
        self.extension: dict = {}

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{self.prefix}{path}: {message}")

    def read(self) -> ParsedTariff | None:
        if not isinstance(self.record, dict):
            self.error("record", "must be a JSON object")
            return None
        before = len(self.errors)
        extension = self.record.get(EXTENSION_KEY, {})
        if not isinstance(extension, dict):
            self.error(EXTENSION_KEY, "must be a JSON object")
            extension = {}
        self.extension = extension

        name = self.text("name", required=True)
        utility_name = self.text("utility", required=True)
        label = self.text("label")
        code = self.ext_text("code") or (f"urdb-{label}" if label else "")
        if not code:
            self.error(f"{EXTENSION_KEY}.code", "required when the record has no URDB label")
        time_zone = self.time_zone()
        start = self.epoch_date("startdate", required=True)
        end = self.epoch_date("enddate")
        if start and end and end <= start:
            self.error("enddate", f"must be after startdate ({start:%Y-%m-%d})")

        periods = self.periods()
        weekday = self.schedule("energyweekdayschedule", len(periods) if periods is not None else None)
        weekend = self.schedule("energyweekendschedule", len(periods) if periods is not None else None)
        seasons = self.seasons(weekday, weekend)
        fixed_charge, fixed_unit = self.charge(
            "fixedchargefirstmeter", "fixedchargeunits", "fixedmonthlycharge"
        )
        minimum, minimum_unit = self.charge("mincharge", "minchargeunits", "minmonthlycharge")
        credits = self.credits()
        baseline_credit = self.baseline_credit()
        critical_peak = self.critical_peak()
        calendar = self.calendar()
        source_url, source_notes = self.source()

        if len(self.errors) > before:
            return None
        return ParsedTariff(
            code=code,
            name=self.ext_text("name") or name,
            utility_name=utility_name,
            utility_code=self.ext_text("utility_code") or _slug(utility_name),
            eia_id=self.record.get("eiaid") if isinstance(self.record.get("eiaid"), int) else None,
            time_zone=time_zone,
            calendar=calendar,
            effective_start=start,
            effective_end=end,
            urdb_label=label,
            source_url=source_url,
            source_notes=source_notes,
            periods=tuple(periods),
            weekday_schedule=weekday,
            weekend_schedule=weekend,
            seasons=seasons,
            fixed_charge=fixed_charge,
            fixed_charge_unit=fixed_unit,
            minimum_charge=minimum,
            minimum_charge_unit=minimum_unit,
            credits=credits,
            baseline_credit=baseline_credit,
            critical_peak=critical_peak,
            ignored_fields=tuple(sorted(set(self.record) - USED_FIELDS)),
        )

    # --- plain fields --------------------------------------------------------------------------------

    def text(self, key: str, *, required: bool = False) -> str:
        value = self.record.get(key)
        if value is None or value == "":
            if required:
                self.error(key, "required")
            return ""
        if not isinstance(value, str):
            self.error(key, "must be a string")
            return ""
        return value.strip()

    def ext_text(self, key: str) -> str:
        value = self.extension.get(key)
        if value is None:
            return ""
        if not isinstance(value, str) or not value.strip():
            self.error(f"{EXTENSION_KEY}.{key}", "must be a non-empty string")
            return ""
        return value.strip()

    def epoch_date(self, key: str, *, required: bool = False) -> dt.date | None:
        value = self.record.get(key)
        if value is None:
            if required:
                self.error(key, "required (epoch seconds)")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(key, f"must be epoch seconds, got {value!r}")
            return None
        # URDB stores midnight of the effective date in UTC or US Mountain time; both have the right UTC date.
        return dt.datetime.fromtimestamp(value, tz=dt.UTC).date()

    def time_zone(self) -> str:
        name = self.ext_text("time_zone") or DEFAULT_TIME_ZONE
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.error(f"{EXTENSION_KEY}.time_zone", f"unknown time zone {name!r}")
        return name

    def source(self) -> tuple[str, str]:
        source = self.extension.get("source", {})
        if not isinstance(source, dict):
            self.error(f"{EXTENSION_KEY}.source", "must be a JSON object")
            source = {}
        url = source.get("url") or self.text("source") or self.text("uri")
        notes = [str(source[key]) for key in ("document", "effective", "notes") if source.get(key)]
        if self.text("uri"):
            notes.append(f"OpenEI URDB record: {self.text('uri')}")
        return str(url), "\n".join(notes)

    # --- energy ----------------------------------------------------------------------------------------

    def periods(self) -> list[ParsedPeriod] | None:
        structure = self.record.get("energyratestructure")
        if structure is None:
            self.error("energyratestructure", "required")
            return None
        if not isinstance(structure, list) or not structure:
            self.error("energyratestructure", "must be a non-empty list of periods")
            return None
        labels = self.record.get("energytoulabels")
        if labels is not None and (
            not isinstance(labels, list)
            or len(labels) != len(structure)
            or not all(isinstance(x, str) for x in labels)
        ):
            self.error("energytoulabels", f"must be a list of {len(structure)} strings, one per period")
            labels = None
        kinds = self.extension.get("period_kinds")
        if kinds is not None and (not isinstance(kinds, list) or len(kinds) != len(structure)):
            self.error(
                f"{EXTENSION_KEY}.period_kinds", f"must be a list of {len(structure)} kinds, one per period"
            )
            kinds = None

        periods = []
        for index, tiers in enumerate(structure):
            label = labels[index].strip() if labels else f"Period {index + 1}"
            kind = self.period_kind(index, label, kinds[index] if kinds else None)
            periods.append(ParsedPeriod(index, label, kind, self.tiers(index, tiers)))
        return periods

    def period_kind(self, index: int, label: str, given: Any) -> str:
        if given is not None:
            if given not in PeriodKind.values:
                self.error(
                    f"{EXTENSION_KEY}.period_kinds[{index}]",
                    f"unknown kind {given!r} ({', '.join(PeriodKind.values)})",
                )
            return str(given)
        kind = _kind_from_label(label)
        if kind is None:
            self.error(
                f"{EXTENSION_KEY}.period_kinds[{index}]",
                f"needed: the kind of period {label!r} is not clear from its label",
            )
            return PeriodKind.FLAT
        return kind

    def tiers(self, index: int, tiers: Any) -> tuple[ParsedTier, ...]:
        path = f"energyratestructure[{index}]"
        if not isinstance(tiers, list) or not tiers:
            self.error(path, "must be a non-empty list of tiers")
            return ()
        parsed = []
        previous_max = Decimal(0)
        for number, tier in enumerate(tiers):
            tier_path = f"{path}[{number}]"
            if not isinstance(tier, dict):
                self.error(tier_path, "must be an object {rate, adj?, max?, unit?}")
                continue
            rate = self.decimal(tier, "rate", f"{tier_path}.rate", required=True, minimum=Decimal(0))
            adjustment = self.decimal(tier, "adj", f"{tier_path}.adj") or Decimal(0)
            maximum = self.decimal(tier, "max", f"{tier_path}.max", minimum=Decimal(0))
            unit = tier.get("unit", "kWh")
            if unit not in TIER_UNITS:
                self.error(
                    f"{tier_path}.unit", f"unknown unit {unit!r} (supported: {', '.join(sorted(TIER_UNITS))})"
                )
            last = number == len(tiers) - 1
            if maximum is None and not last:
                self.error(f"{tier_path}.max", "required on every tier but the last")
            if maximum is not None and maximum <= previous_max:
                self.error(f"{tier_path}.max", f"must be greater than the previous tier's ({previous_max})")
            previous_max = maximum or previous_max
            if rate is not None:
                parsed.append(ParsedTier(rate, adjustment, maximum))
        return tuple(parsed)

    def decimal(
        self, container: dict, key: str, path: str, *, required: bool = False, minimum: Decimal | None = None
    ) -> Decimal | None:
        value = container.get(key)
        if value is None:
            if required:
                self.error(path, "required")
            return None
        number = _to_decimal(value)
        if number is None:
            self.error(path, f"must be a number, got {value!r}")
            return None
        if minimum is not None and number < minimum:
            self.error(path, f"must not be negative, got {value!r}")
            return None
        return number

    def schedule(self, key: str, period_count: int | None) -> tuple[tuple[int, ...], ...]:
        matrix = self.record.get(key)
        if matrix is None:
            self.error(key, "required (12 months x 24 hours of period indexes)")
            return ()
        if not isinstance(matrix, list) or len(matrix) != 12:
            self.error(
                key,
                f"must be 12 rows (months), got {_size(matrix)}",
            )
            return ()
        rows = []
        for month, row in enumerate(matrix):
            if not isinstance(row, list) or len(row) != 24:
                self.error(
                    f"{key}[{month}]",
                    f"must be 24 period indexes (hours), got {_size(row)}",
                )
                rows.append(())
                continue
            for hour, value in enumerate(row):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    self.error(f"{key}[{month}][{hour}]", f"must be a period index (0, 1, …), got {value!r}")
                elif period_count is not None and value >= period_count:
                    self.error(
                        f"{key}[{month}][{hour}]", f"period {value} does not exist ({period_count} periods)"
                    )
            rows.append(tuple(row))
        return tuple(rows)

    def seasons(self, weekday, weekend) -> tuple[ParsedSeason, ...]:
        given = self.extension.get("seasons")
        path = f"{EXTENSION_KEY}.seasons"
        complete = len(weekday) == 12 and len(weekend) == 12 and all(weekday) and all(weekend)
        if given is None:
            return _seasons_from_schedules(weekday, weekend) if complete else ()
        if not isinstance(given, list) or not given:
            self.error(path, "must be a non-empty list of {name, months, baseline_kwh_per_day?}")
            return ()
        seasons, seen = [], {}
        for i, season in enumerate(given):
            if (
                not isinstance(season, dict)
                or not isinstance(season.get("name"), str)
                or not season["name"].strip()
            ):
                self.error(f"{path}[{i}]", "must have a name")
                continue
            months = season.get("months")
            if (
                not isinstance(months, list)
                or not months
                or not all(isinstance(m, int) and 1 <= m <= 12 for m in months)
            ):
                self.error(f"{path}[{i}].months", "must be a list of month numbers 1-12")
                continue
            for month in months:
                if month in seen:
                    self.error(f"{path}[{i}].months", f"month {month} is already in season {seen[month]!r}")
                seen[month] = season["name"]
            if complete:
                for month in months[1:]:
                    if (
                        weekday[month - 1] != weekday[months[0] - 1]
                        or weekend[month - 1] != weekend[months[0] - 1]
                    ):
                        self.error(
                            f"{path}[{i}].months", f"months {months[0]} and {month} have different schedules"
                        )
            baseline = self.decimal(
                season, "baseline_kwh_per_day", f"{path}[{i}].baseline_kwh_per_day", minimum=Decimal(0)
            )
            seasons.append(ParsedSeason(season["name"].strip(), tuple(sorted(months)), baseline))
        missing = sorted(set(range(1, 13)) - set(seen))
        if missing:
            self.error(path, f"months {missing} are in no season")
        return tuple(seasons)

    # --- charges and credits ---------------------------------------------------------------------------

    def charge(self, amount_key: str, unit_key: str, legacy_monthly_key: str) -> tuple[Decimal, str]:
        if self.record.get(amount_key) is None and self.record.get(legacy_monthly_key) is not None:
            # Older URDB records carry only a monthly amount under a legacy name.
            amount = self.decimal(self.record, legacy_monthly_key, legacy_monthly_key, minimum=Decimal(0))
            return amount or Decimal(0), ChargeUnit.PER_MONTH
        amount = self.decimal(self.record, amount_key, amount_key, minimum=Decimal(0))
        unit = self.record.get(unit_key)
        if amount is None:
            return Decimal(0), ChargeUnit.PER_DAY
        if unit is None:
            self.error(unit_key, f"required with {amount_key} ($/day or $/month)")
            return amount, ChargeUnit.PER_DAY
        if unit not in CHARGE_UNITS:
            self.error(unit_key, f"unknown unit {unit!r} (supported: {', '.join(CHARGE_UNITS)})")
            return amount, ChargeUnit.PER_DAY
        return amount, CHARGE_UNITS[unit]

    def credits(self) -> tuple[ParsedCredit, ...]:
        given = self.extension.get("credits", [])
        path = f"{EXTENSION_KEY}.credits"
        if not isinstance(given, list):
            self.error(path, "must be a list of {name, amount, unit}")
            return ()
        credits = []
        for i, credit in enumerate(given):
            if (
                not isinstance(credit, dict)
                or not isinstance(credit.get("name"), str)
                or not credit["name"].strip()
            ):
                self.error(f"{path}[{i}].name", "required")
                continue
            amount = self.decimal(credit, "amount", f"{path}[{i}].amount", required=True, minimum=Decimal(0))
            unit = credit.get("unit")
            if unit not in CHARGE_UNITS:
                self.error(
                    f"{path}[{i}].unit", f"unknown unit {unit!r} (supported: {', '.join(CHARGE_UNITS)})"
                )
                continue
            if amount is not None:
                credits.append(ParsedCredit(credit["name"].strip(), amount, CHARGE_UNITS[unit]))
        return tuple(credits)

    def baseline_credit(self) -> Decimal | None:
        baseline = self.extension.get("baseline")
        if baseline is None:
            return None
        if not isinstance(baseline, dict):
            self.error(f"{EXTENSION_KEY}.baseline", "must be an object {credit_per_kwh}")
            return None
        return self.decimal(
            baseline,
            "credit_per_kwh",
            f"{EXTENSION_KEY}.baseline.credit_per_kwh",
            required=True,
            minimum=Decimal(0),
        )

    def critical_peak(self) -> ParsedCriticalPeak | None:
        given = self.extension.get("critical_peak")
        path = f"{EXTENSION_KEY}.critical_peak"
        if given is None:
            return None
        if not isinstance(given, dict):
            self.error(path, "must be an object {adder_per_kwh, start_hour, end_hour, event_days}")
            return None
        adder = self.decimal(
            given, "adder_per_kwh", f"{path}.adder_per_kwh", required=True, minimum=Decimal(0)
        )
        start, end = given.get("start_hour"), given.get("end_hour")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= 24):
            self.error(
                f"{path}.start_hour",
                "start_hour and end_hour must be whole hours with 0 <= start < end <= 24",
            )
        days = []
        event_days = given.get("event_days", [])
        if not isinstance(event_days, list):
            self.error(f"{path}.event_days", "must be a list of dates (YYYY-MM-DD)")
            event_days = []
        for i, day in enumerate(event_days):
            try:
                days.append(dt.date.fromisoformat(day))
            except (TypeError, ValueError):
                self.error(f"{path}.event_days[{i}]", f"must be a date YYYY-MM-DD, got {day!r}")
        if adder is None or not isinstance(start, int) or not isinstance(end, int):
            return None
        return ParsedCriticalPeak(adder, start, end, tuple(sorted(set(days))))

    def calendar(self) -> ParsedCalendar | None:
        given = self.extension.get("holiday_calendar")
        path = f"{EXTENSION_KEY}.holiday_calendar"
        if given is None:
            return None
        if not isinstance(given, dict):
            self.error(path, "must be an object {code, name, holidays, observed_rule}")
            return None
        code = given.get("code")
        if not isinstance(code, str) or not re.fullmatch(r"[-a-z0-9_]+", code):
            self.error(f"{path}.code", "required: lowercase letters, digits, - and _")
        country = given.get("country", "US")
        try:
            known = _holiday_names(country)
        except NotImplementedError:
            self.error(f"{path}.country", f"unknown country {country!r}")
            known = set()
        names = given.get("holidays")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            self.error(
                f"{path}.holidays", "must be a list of holiday names as the `holidays` package spells them"
            )
            names = []
        for i, name in enumerate(names):
            if known and name not in known:
                self.error(
                    f"{path}.holidays[{i}]",
                    f"{name!r} is not a {country} holiday name (known: {', '.join(sorted(known))})",
                )
        rule = given.get("observed_rule", ObservedRule.NONE)
        if rule not in ObservedRule.values:
            self.error(f"{path}.observed_rule", f"unknown rule {rule!r} ({', '.join(ObservedRule.values)})")
        return ParsedCalendar(
            code=str(code),
            name=str(given.get("name") or code),
            country=str(country),
            holiday_names=tuple(names),
            observed_rule=str(rule),
        )


def _size(value: Any) -> str:
    return str(len(value)) if isinstance(value, list) else type(value).__name__


def _to_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _kind_from_label(label: str) -> str | None:
    text = re.sub(r"[^a-z]", "", label.lower())
    if "superoff" in text:
        return PeriodKind.SUPER_OFF_PEAK
    if "offpeak" in text:
        return PeriodKind.OFF_PEAK
    if "mid" in text or "partial" in text or "shoulder" in text:
        return PeriodKind.MID_PEAK
    if "peak" in text:
        return PeriodKind.ON_PEAK
    if text in {"flat", "allhours", "anytime", "allday"}:
        return PeriodKind.FLAT
    return None


def _seasons_from_schedules(weekday, weekend) -> tuple[ParsedSeason, ...]:
    """Without named seasons, months with identical schedules form one season, named by its months."""
    groups: dict[tuple, list[int]] = {}
    for month in range(12):
        groups.setdefault((weekday[month], weekend[month]), []).append(month + 1)
    if len(groups) == 1:
        return (ParsedSeason("All year", tuple(range(1, 13))),)
    return tuple(ParsedSeason(month_range_label(months), tuple(months)) for months in groups.values())


def month_range_label(months) -> str:
    """'June to September', or 'January to May, October to December' for months that wrap."""
    runs: list[list[int]] = []
    for month in sorted(months):
        if runs and runs[-1][-1] == month - 1:
            runs[-1].append(month)
        else:
            runs.append([month])
    parts = [
        MONTH_NAMES[r[0] - 1] if len(r) == 1 else f"{MONTH_NAMES[r[0] - 1]} to {MONTH_NAMES[r[-1] - 1]}"
        for r in runs
    ]
    return ", ".join(parts)


def _holiday_names(country: str) -> set[str]:
    names: set[str] = set()
    for _day, name in holidays_package.country_holidays(
        country, years=range(2020, 2031), observed=False
    ).items():
        names.update(name.split("; "))
    return names


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64]
