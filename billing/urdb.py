"""Reading OpenEI Utility Rate Database (URDB) JSON, plus our "pevportal" extension object, into plain data.

Nothing here touches the database: `parse_urdb` either returns every record of a file as a `ParsedTariff`
or raises `TariffFileError` listing every problem, each prefixed with the field it is about
(e.g. ``energyweekdayschedule[3][17]: period 5 does not exist (3 periods)``). Values are checked against
the columns they are stored in (lengths, decimal places, digits), so a file that parses always saves, on
SQLite and PostgreSQL alike, with nothing rounded or cut. docs/tariffs.md describes the format.
"""

import datetime as dt
import hashlib
import json
import math
import re
import zoneinfo
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import holidays as holidays_package
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models

from billing.models import (
    DEFAULT_TIME_ZONE,
    ChargeUnit,
    Credit,
    CreditApplies,
    Holiday,
    HolidayCalendar,
    ObservedRule,
    Period,
    PeriodKind,
    Season,
    Tariff,
    TariffVersion,
    Tier,
    Utility,
)
from billing.presentation import month_range_label

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
TIER_UNITS = {"kWh": "kWh"}
# Effective dates outside these years are typing errors, and would make billing.holidays build centuries.
FIRST_YEAR, LAST_YEAR = 1970, 2100


def _column(model: type[models.Model], name: str) -> models.Field:
    return model._meta.get_field(name)


MONEY_COLUMN = _column(Tier, "rate")
KWH_COLUMN = _column(Tier, "max_kwh")
_http_url = URLValidator(schemes=["http", "https"])


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
    applies_to: str = CreditApplies.ALL


@dataclass(frozen=True)
class ParsedCalendar:
    code: str
    name: str
    country: str
    holiday_names: tuple[str, ...]
    observed_rule: str
    display_names: tuple[tuple[str, str], ...] = ()  # (package name, display name), sorted


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
    calendar: ParsedCalendar | None  # None: the utility's calendar
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
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def fingerprint(self) -> str:
        """SHA-256 of what a version prices with — its numbers, time zone and holiday calendar — so an
        identical re-import can be recognised and any change to them makes a different version."""
        content = asdict(self)
        for key in ("code", "name", "utility_name", "utility_code", "eia_id", "ignored_fields", "warnings"):
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
    """Reads one record, appending "field: problem" messages instead of stopping at the first.

    The small readers (`obj`, `items`, `string`, `decimal`, `whole`, `choice`) each check one value and
    name its path; the section readers below combine them.
    """

    def __init__(self, record: Any, prefix: str, errors: list[str]):
        self.record = record
        self.prefix = prefix
        self.errors = errors
        self.warnings: list[str] = []
        self.extension: dict = {}

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{self.prefix}{path}: {message}")

    def read(self) -> ParsedTariff | None:
        if not isinstance(self.record, dict):
            self.error("record", "must be a JSON object")
            return None
        before = len(self.errors)
        self.extension = self.obj(self.record.get(EXTENSION_KEY), EXTENSION_KEY, "") or {}

        ext_name = self.ext_string("name", _column(Tariff, "name"))
        # The record's own name is stored only when the extension gives none.
        name = self.string(
            self.record, "name", "name", required=True, column=None if ext_name else _column(Tariff, "name")
        )
        utility_name = self.string(
            self.record, "utility", "utility", required=True, column=_column(Utility, "name")
        )
        label = self.string(self.record, "label", "label", column=_column(TariffVersion, "urdb_label"))
        code = self.ext_string("code", _column(Tariff, "code")) or (f"urdb-{label}" if label else "")
        if not code:
            self.error(f"{EXTENSION_KEY}.code", "required when the record has no URDB label")
        elif len(code) > _column(Tariff, "code").max_length:
            self.error("label", f"urdb-{label} is too long for a tariff code: give {EXTENSION_KEY}.code")
        utility_code = self.ext_string("utility_code", _column(Utility, "code"))
        if utility_code and not re.fullmatch(r"[-a-z0-9_]+", utility_code):
            self.error(f"{EXTENSION_KEY}.utility_code", "must be lowercase letters, digits, - and _")
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
        eia_id = self.whole(self.record, "eiaid", "eiaid", low=0, high=2**31 - 1)

        if len(self.errors) > before:
            return None
        return ParsedTariff(
            code=code,
            name=ext_name or name,
            utility_name=utility_name,
            utility_code=utility_code or _slug(utility_name),
            eia_id=eia_id,
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
            warnings=tuple(f"{code}: {warning}" for warning in self.warnings),
        )

    # --- small readers, shared by every section --------------------------------------------------------

    def obj(self, value: Any, path: str, shape: str) -> dict | None:
        """A JSON object, or None (absent, or not an object: then an error)."""
        if value is None or isinstance(value, dict):
            return value
        self.error(path, f"must be a JSON object{' ' + shape if shape else ''}")
        return None

    def items(self, container: dict, key: str, path: str, shape: str) -> list:
        value = container.get(key, [])
        if isinstance(value, list):
            return value
        self.error(path, f"must be a list of {shape}")
        return []

    def string(
        self,
        container: dict,
        key: str,
        path: str,
        *,
        required: bool = False,
        column: models.Field | None = None,
    ) -> str:
        """A stripped string that fits `column`; "" when absent (an error if required) or bad."""
        value = container.get(key)
        if value is None or value == "":
            if required:
                self.error(path, "required")
            return ""
        if not isinstance(value, str) or not value.strip():
            self.error(path, "must be a non-empty string")
            return ""
        value = value.strip()
        if column is not None and column.max_length and len(value) > column.max_length:
            self.error(path, f"must be at most {column.max_length} characters, got {len(value)}")
            return ""
        return value

    def ext_string(self, key: str, column: models.Field) -> str:
        return self.string(self.extension, key, f"{EXTENSION_KEY}.{key}", column=column)

    def decimal(
        self,
        container: dict,
        key: str,
        path: str,
        *,
        required: bool = False,
        minimum: Decimal | None = None,
        column: models.Field = MONEY_COLUMN,
    ) -> Decimal | None:
        """A number that `column` stores exactly: never rounded, never too large."""
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
        problem = _precision_problem(number, column.max_digits, column.decimal_places)
        if problem:
            self.error(path, f"{problem}, got {value!r}")
            return None
        return number

    def whole(self, container: dict, key: str, path: str, *, low: int, high: int) -> int | None:
        """A whole number from `low` to `high` (JSON true/false are not numbers here)."""
        value = container.get(key)
        if value is None:
            return None
        if not _is_int(value) or not low <= value <= high:
            self.error(path, f"must be a whole number from {low} to {high}, got {value!r}")
            return None
        return value

    def choice(self, value: Any, path: str, choices: dict, what: str = "unit") -> str | None:
        """`choices[value]`, or None with an error listing the supported values."""
        if isinstance(value, str) and value in choices:
            return choices[value]
        self.error(path, f"unknown {what} {value!r} (supported: {', '.join(choices)})")
        return None

    # --- plain fields --------------------------------------------------------------------------------

    def epoch_date(self, key: str, *, required: bool = False) -> dt.date | None:
        value = self.record.get(key)
        if value is None:
            if required:
                self.error(key, "required (epoch seconds)")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.error(key, f"must be epoch seconds, got {value!r}")
            return None
        try:
            # URDB stores midnight of the effective date in UTC or US Mountain; both have the right UTC date.
            day = dt.datetime.fromtimestamp(value, tz=dt.UTC).date()
        except (OverflowError, OSError, ValueError):
            day = None
        if day is None or not FIRST_YEAR <= day.year <= LAST_YEAR:
            self.error(key, f"must be epoch seconds of a date in {FIRST_YEAR}-{LAST_YEAR}, got {value!r}")
            return None
        return day

    def time_zone(self) -> str:
        name = self.ext_string("time_zone", _column(Tariff, "time_zone")) or DEFAULT_TIME_ZONE
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.error(f"{EXTENSION_KEY}.time_zone", f"unknown time zone {name!r}")
        return name

    def source(self) -> tuple[str, str]:
        """The rate-sheet URL (always http or https: it is shown as a link) and the notes."""
        path = f"{EXTENSION_KEY}.source"
        source = self.obj(self.extension.get("source"), path, "{url, document, effective, notes}") or {}
        url_column = _column(TariffVersion, "source_url")
        url = self.string(source, "url", f"{path}.url", column=url_column)
        if url and not _is_http_url(url):
            self.error(f"{path}.url", f"must be an http(s) URL, got {url!r}")
        notes = [str(source[key]) for key in ("document", "effective", "notes") if source.get(key)]
        urdb_source, uri = (
            self.string(self.record, "source", "source"),
            self.string(self.record, "uri", "uri"),
        )
        for value in (urdb_source, uri):
            if not url and _is_http_url(value) and len(value) <= url_column.max_length:
                url = value
        if urdb_source and urdb_source != url:
            # URDB's `source` is not always a link; one that is not is kept as a note, never shown as a link.
            notes.append(f"URDB source: {urdb_source}")
            if not _is_http_url(urdb_source):
                self.warnings.append(f"source {urdb_source!r} is not an http(s) URL: kept in the notes")
        if uri:
            notes.append(f"OpenEI URDB record: {uri}")
        return url, "\n".join(notes)

    # --- energy ----------------------------------------------------------------------------------------

    def periods(self) -> list[ParsedPeriod] | None:
        structure = self.record.get("energyratestructure")
        if structure is None:
            self.error("energyratestructure", "required")
            return None
        if not isinstance(structure, list) or not structure:
            self.error("energyratestructure", "must be a non-empty list of periods")
            return None
        default_labels = [f"Period {index + 1}" for index in range(len(structure))]
        labels = self.labels(len(structure))
        kinds = self.extension.get("period_kinds")
        if kinds is not None and (not isinstance(kinds, list) or len(kinds) != len(structure)):
            self.error(
                f"{EXTENSION_KEY}.period_kinds", f"must be a list of {len(structure)} kinds, one per period"
            )
            kinds = None

        tiers = [self.tiers(index, period) for index, period in enumerate(structure)]
        if labels is None and kinds is None:
            kinds = self.kinds_from_prices(default_labels, tiers)
        return [
            ParsedPeriod(
                index, label, self.period_kind(index, label, kinds[index] if kinds else None), tiers[index]
            )
            for index, label in enumerate(labels or default_labels)
        ]

    def labels(self, count: int) -> list[str] | None:
        labels = self.record.get("energytoulabels")
        if labels is None:
            return None
        limit = _column(Period, "label").max_length
        if (
            not isinstance(labels, list)
            or len(labels) != count
            or not all(isinstance(x, str) for x in labels)
        ):
            self.error("energytoulabels", f"must be a list of {count} strings, one per period")
            return [f"Period {index + 1}" for index in range(count)]
        for index, label in enumerate(labels):
            if not label.strip() or len(label.strip()) > limit:
                self.error(f"energytoulabels[{index}]", f"must be 1 to {limit} characters, got {len(label)}")
        return [label.strip() for label in labels]

    def kinds_from_prices(self, labels: list[str], tiers: list[tuple[ParsedTier, ...]]) -> list[str]:
        """Without labels or period_kinds (real URDB records may have neither), rank periods by price:
        one period is flat; otherwise the cheapest are off-peak, the dearest on-peak, the rest mid-peak."""
        prices = [period[0].rate + period[0].adjustment if period else Decimal(0) for period in tiers]
        low, high = min(prices), max(prices)

        def kind(price: Decimal) -> str:
            if low == high:
                return PeriodKind.FLAT
            return {low: PeriodKind.OFF_PEAK, high: PeriodKind.ON_PEAK}.get(price, PeriodKind.MID_PEAK)

        kinds = [kind(price) for price in prices]
        how = "ranked by price" if len(labels) > 1 else "one period"
        assumed = ", ".join(f"{label} {kind}" for label, kind in zip(labels, kinds, strict=True))
        self.warnings.append(
            f"no energytoulabels: period kinds assumed ({how}): {assumed}; "
            f"give {EXTENSION_KEY}.period_kinds to set them"
        )
        return kinds

    def period_kind(self, index: int, label: str, given: Any) -> str:
        path = f"{EXTENSION_KEY}.period_kinds[{index}]"
        if given is not None:
            return self.choice(given, path, {kind: kind for kind in PeriodKind.values}, "kind") or ""
        kind = _kind_from_label(label)
        if kind is None:
            self.error(path, f"needed: the kind of period {label!r} is not clear from its label")
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
            maximum = self.decimal(tier, "max", f"{tier_path}.max", minimum=Decimal(0), column=KWH_COLUMN)
            self.choice(tier.get("unit", "kWh"), f"{tier_path}.unit", TIER_UNITS)
            last = number == len(tiers) - 1
            if maximum is None and not last:
                self.error(f"{tier_path}.max", "required on every tier but the last")
            if maximum is not None and maximum <= previous_max:
                self.error(f"{tier_path}.max", f"must be greater than the previous tier's ({previous_max})")
            previous_max = maximum or previous_max
            if rate is not None:
                parsed.append(ParsedTier(rate, adjustment, maximum))
        return tuple(parsed)

    def schedule(self, key: str, period_count: int | None) -> tuple[tuple[int, ...], ...]:
        matrix = self.record.get(key)
        if matrix is None:
            self.error(key, "required (12 months x 24 hours of period indexes)")
            return ()
        if not isinstance(matrix, list) or len(matrix) != 12:
            self.error(key, f"must be 12 rows (months), got {_size(matrix)}")
            return ()
        rows = []
        for month, row in enumerate(matrix):
            if not isinstance(row, list) or len(row) != 24:
                self.error(f"{key}[{month}]", f"must be 24 period indexes (hours), got {_size(row)}")
                rows.append(())
                continue
            for hour, value in enumerate(row):
                if not _is_int(value) or value < 0:
                    self.error(f"{key}[{month}][{hour}]", f"must be a period index (0, 1, …), got {value!r}")
                elif period_count is not None and value >= period_count:
                    self.error(
                        f"{key}[{month}][{hour}]", f"period {value} does not exist ({period_count} periods)"
                    )
            rows.append(tuple(row))
        return tuple(rows)

    def seasons(self, weekday, weekend) -> tuple[ParsedSeason, ...]:
        path = f"{EXTENSION_KEY}.seasons"
        complete = len(weekday) == 12 and len(weekend) == 12 and all(weekday) and all(weekend)
        given = self.extension.get("seasons")
        if given is None:
            return _seasons_from_schedules(weekday, weekend) if complete else ()
        if not isinstance(given, list) or not given:
            self.error(path, "must be a non-empty list of {name, months, baseline_kwh_per_day?}")
            return ()
        seasons, seen_months, seen_names = [], {}, set()
        for i, season in enumerate(given):
            season = self.obj(season, f"{path}[{i}]", "{name, months, baseline_kwh_per_day?}") or {}
            name = self.string(
                season, "name", f"{path}[{i}].name", required=True, column=_column(Season, "name")
            )
            months = season.get("months")
            if (
                not isinstance(months, list)
                or not months
                or not all(_is_int(m) and 1 <= m <= 12 for m in months)
            ):
                self.error(f"{path}[{i}].months", "must be a list of month numbers 1-12")
                continue
            if name in seen_names:
                self.error(f"{path}[{i}].name", f"season {name!r} is listed twice")
            seen_names.add(name)
            for month in months:
                if month in seen_months:
                    self.error(
                        f"{path}[{i}].months", f"month {month} is already in season {seen_months[month]!r}"
                    )
                seen_months[month] = name
            if complete:
                for month in months[1:]:
                    if (weekday[month - 1], weekend[month - 1]) != (
                        weekday[months[0] - 1],
                        weekend[months[0] - 1],
                    ):
                        self.error(
                            f"{path}[{i}].months", f"months {months[0]} and {month} have different schedules"
                        )
            baseline = self.decimal(
                season,
                "baseline_kwh_per_day",
                f"{path}[{i}].baseline_kwh_per_day",
                minimum=Decimal(0),
                column=_column(Season, "baseline_kwh_per_day"),
            )
            if name:
                seasons.append(ParsedSeason(name, tuple(sorted(months)), baseline))
        missing = sorted(set(range(1, 13)) - set(seen_months))
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
        return amount, self.choice(unit, unit_key, CHARGE_UNITS) or ChargeUnit.PER_DAY

    def credits(self) -> tuple[ParsedCredit, ...]:
        path = f"{EXTENSION_KEY}.credits"
        credits = []
        for i, credit in enumerate(self.items(self.extension, "credits", path, "{name, amount, unit}")):
            credit = self.obj(credit, f"{path}[{i}]", "{name, amount, unit, applies_to?}") or {}
            name = self.string(
                credit, "name", f"{path}[{i}].name", required=True, column=_column(Credit, "name")
            )
            amount = self.decimal(credit, "amount", f"{path}[{i}].amount", required=True, minimum=Decimal(0))
            unit = self.choice(credit.get("unit"), f"{path}[{i}].unit", CHARGE_UNITS)
            applies_to = self.choice(
                credit.get("applies_to", CreditApplies.ALL),
                f"{path}[{i}].applies_to",
                {value: value for value in CreditApplies.values},
                "value",
            )
            if name and amount is not None and unit and applies_to:
                credits.append(ParsedCredit(name, amount, unit, applies_to))
        return tuple(credits)

    def baseline_credit(self) -> Decimal | None:
        path = f"{EXTENSION_KEY}.baseline"
        baseline = self.obj(self.extension.get("baseline"), path, "{credit_per_kwh}")
        if baseline is None:
            return None
        return self.decimal(
            baseline, "credit_per_kwh", f"{path}.credit_per_kwh", required=True, minimum=Decimal(0)
        )

    def critical_peak(self) -> ParsedCriticalPeak | None:
        path = f"{EXTENSION_KEY}.critical_peak"
        given = self.obj(
            self.extension.get("critical_peak"), path, "{adder_per_kwh, start_hour, end_hour, event_days}"
        )
        if given is None:
            return None
        adder = self.decimal(
            given, "adder_per_kwh", f"{path}.adder_per_kwh", required=True, minimum=Decimal(0)
        )
        start, end = given.get("start_hour"), given.get("end_hour")
        hours_ok = _is_int(start) and _is_int(end) and 0 <= start < end <= 24
        if not hours_ok:
            self.error(
                f"{path}.start_hour",
                "start_hour and end_hour must be whole hours with 0 <= start < end <= 24, "
                f"got {start!r} and {end!r}",
            )
        days = []
        for i, day in enumerate(self.items(given, "event_days", f"{path}.event_days", "dates (YYYY-MM-DD)")):
            try:
                days.append(dt.date.fromisoformat(day))
            except (TypeError, ValueError):
                self.error(f"{path}.event_days[{i}]", f"must be a date YYYY-MM-DD, got {day!r}")
        if adder is None or not hours_ok:
            return None
        return ParsedCriticalPeak(adder, start, end, tuple(sorted(set(days))))

    def calendar(self) -> ParsedCalendar | None:
        path = f"{EXTENSION_KEY}.holiday_calendar"
        given = self.obj(
            self.extension.get("holiday_calendar"),
            path,
            "{code, name, country, holidays, display_names, observed_rule}",
        )
        if given is None:
            return None
        code = self.string(
            given, "code", f"{path}.code", required=True, column=_column(HolidayCalendar, "code")
        )
        if code and not re.fullmatch(r"[-a-z0-9_]+", code):
            self.error(f"{path}.code", "must be lowercase letters, digits, - and _")
        name = self.string(given, "name", f"{path}.name", column=_column(HolidayCalendar, "name")) or code
        country = self.string(given, "country", f"{path}.country") or "US"
        try:
            known = _holiday_names(country)
        except NotImplementedError:
            self.error(f"{path}.country", f"unknown country {country!r}")
            known = set()
        names = self.items(
            given, "holidays", f"{path}.holidays", "holiday names as the `holidays` package spells them"
        )
        for i, holiday in enumerate(names):
            if not isinstance(holiday, str) or (known and holiday not in known):
                self.error(
                    f"{path}.holidays[{i}]",
                    f"{holiday!r} is not a {country} holiday name (known: {', '.join(sorted(known))})",
                )
        display = self.obj(
            given.get("display_names"), f"{path}.display_names", "{package name: display name}"
        )
        limit = _column(Holiday, "name").max_length
        for holiday, shown in (display or {}).items():
            if holiday not in names:
                self.error(f"{path}.display_names", f"{holiday!r} is not one of the calendar's holidays")
            if not isinstance(shown, str) or not shown.strip() or len(shown.strip()) > limit:
                self.error(f"{path}.display_names[{holiday!r}]", f"must be a name of 1 to {limit} characters")
        rule = given.get("observed_rule", ObservedRule.NONE)
        self.choice(rule, f"{path}.observed_rule", {value: value for value in ObservedRule.values}, "rule")
        return ParsedCalendar(
            code=code,
            name=name,
            country=country,
            holiday_names=tuple(str(holiday) for holiday in names),
            observed_rule=str(rule),
            display_names=tuple(sorted((k, str(v).strip()) for k, v in (display or {}).items())),
        )


def _size(value: Any) -> str:
    return str(len(value)) if isinstance(value, list) else type(value).__name__


def _is_int(value: Any) -> bool:
    # JSON true/false arrive as bool, which Python counts as int.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_http_url(value: str) -> bool:
    try:
        _http_url(value)
    except ValidationError:
        return False
    return True


def _to_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _precision_problem(number: Decimal, max_digits: int, decimal_places: int) -> str | None:
    """Why a DecimalField(max_digits, decimal_places) cannot hold `number` exactly, or None."""
    _sign, digits, exponent = number.normalize().as_tuple()
    if -exponent > decimal_places:
        return f"must have at most {decimal_places} decimal places (it would be rounded)"
    if len(digits) + exponent > max_digits - decimal_places:
        return f"must be less than {10 ** (max_digits - decimal_places):,}"
    return None


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
    limit = _column(Season, "name").max_length
    return tuple(
        ParsedSeason(
            label
            if len(label := month_range_label(months)) <= limit
            else f"Months {', '.join(map(str, months))}",
            tuple(months),
        )
        for months in groups.values()
    )


def _holiday_names(country: str) -> set[str]:
    names: set[str] = set()
    for _day, name in holidays_package.country_holidays(
        country, years=range(2020, 2031), observed=False
    ).items():
        names.update(name.split("; "))
    return names


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64]
