"""The reference side of `make bench-billing`: NREL PySAM `Utilityrate5` rates a month of reads read from the
portal's database, one call per premise × energy kind × tariff.

Nothing here imports Django or the portal's billing code: the tariffs come from their tables (versions'
12×24 schedules, first-tier price + adjustment, the version's holiday calendar, critical-peak days) and are
turned into a price per 15-minute interval here, classified by the interval's local start (zoneinfo), so
that DST and holidays are PySAM's input rather than its guess — its own 12×24 schedule knows neither. With
`ur_en_ts_buy_rate = 1` the time-step price replaces the rate table's (checked: a non-zero table rate
changes nothing), and with net billing (`ur_metering_option = 2`) and the same vector as time-step sell
rate, an interval of negative energy is credited at its price: each step costs exactly kWh × price.

PySAM's year is 8760 hours of `STEPS_PER_HOUR` steps with no DST: the local month's intervals go in order
from the step of the month's first day (a DST month has 4 intervals fewer or more than its days × 96; the
year's total is read, so a November's extra hour spilling into PySAM's December still counts). Each
step's charge (`year1_hourly_ec_with_system`, one value per step despite the name) is summed per bill line —
(tariff, period label, unit price) — so a portal line can be compared line by line.

The reads come by a few SQL queries per batch of premises (BENCH_PYSAM_BATCH): the bound PEV reads (PevRead
with an enrollment, priced at the enrollment's plan in force at the interval, by PlanAssignment) and the
revenue meters' reads; numpy makes each premise's net energy per interval (revenue meter minus the bound
PEV energy measured there, at the premise's default tariff) and each PEV tariff's energy per interval.
"""

import datetime as dt
import math
import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import psycopg

INTERVAL_SECONDS = 900
STEPS_PER_HOUR = 3600 // INTERVAL_SECONDS
YEAR_STEPS = 8760 * STEPS_PER_HOUR
PEV_ENERGY = "pev_energy"
PREMISE_ENERGY = "premise_energy"
KINDS = (PEV_ENERGY, PREMISE_ENERGY)

LineKey = tuple[int, str, int, str, Decimal]  # premise, kind, tariff, period label, unit price
ChargeKey = tuple[int, str, int]  # premise, kind, tariff


@dataclass(frozen=True)
class Month:
    """A calendar month in a tariff's zone, as UTC instants, and where it sits in PySAM's year."""

    first_day: dt.date
    zone: str
    start: dt.datetime
    end: dt.datetime

    @classmethod
    def of(cls, first_day: dt.date, zone: str) -> "Month":
        tz = zoneinfo.ZoneInfo(zone)
        following = (first_day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        start = dt.datetime.combine(first_day, dt.time(), tz).astimezone(dt.UTC)
        end = dt.datetime.combine(following, dt.time(), tz).astimezone(dt.UTC)
        return cls(first_day, zone, start, end)

    @property
    def intervals(self) -> int:
        return int((self.end - self.start).total_seconds()) // INTERVAL_SECONDS

    @property
    def pysam_offset(self) -> int:
        """PySAM's step for the month's first local midnight: its year is a non-leap year from 1 January."""
        days = (dt.date(2001, self.first_day.month, 1) - dt.date(2001, 1, 1)).days
        return days * 24 * STEPS_PER_HOUR

    def starts(self) -> list[dt.datetime]:
        step = dt.timedelta(seconds=INTERVAL_SECONDS)
        return [self.start + k * step for k in range(self.intervals)]


@dataclass(frozen=True)
class PriceVector:
    """A tariff's price in each interval of the month, and the bill line (period label, unit price) each
    interval's energy belongs to."""

    tariff_id: int
    prices: np.ndarray  # $/kWh, float64, one per interval
    lines: np.ndarray  # index into `keys`, one per interval
    keys: list[tuple[str, Decimal]]
    exact: list[Decimal]  # the prices as Decimal, one per interval


def price_vectors(conn: psycopg.Connection, month: Month) -> dict[int, PriceVector]:
    """The price per interval of the month of every tariff in the month's zone with versions in force over
    all of it, from the tariff tables in five queries."""
    first_day, last_day = month.first_day - dt.timedelta(days=1), month.end.date() + dt.timedelta(days=1)
    with conn.cursor() as cursor:
        cursor.execute("SELECT id FROM billing_tariff WHERE time_zone = %s", [month.zone])
        tariff_ids = [row[0] for row in cursor.fetchall()]
        versions: dict[int, list[tuple]] = defaultdict(list)
        for row in cursor.execute(
            "SELECT tariff_id, id, effective_start, effective_end, holiday_calendar_id, weekday_schedule, "
            "weekend_schedule, critical_peak_adder, critical_peak_start_hour, critical_peak_end_hour "
            "FROM billing_tariffversion WHERE tariff_id = ANY(%s) AND effective_start <= %s "
            "AND (effective_end IS NULL OR effective_end > %s) ORDER BY effective_start",
            [tariff_ids, last_day, first_day],
        ):
            versions[row[0]].append(row[1:])
        version_ids = [v[0] for rows in versions.values() for v in rows]
        periods = {
            (version, index): (label, price)
            for version, index, label, price in cursor.execute(
                "SELECT DISTINCT ON (p.id) p.version_id, p.index, p.label, t.rate + t.adjustment "
                "FROM billing_period p JOIN billing_tier t ON t.period_id = p.id "
                "WHERE p.version_id = ANY(%s) ORDER BY p.id, t.number",
                [version_ids],
            )
        }
        holidays: dict[int, set[dt.date]] = defaultdict(set)
        for calendar, day in cursor.execute(
            "SELECT calendar_id, date FROM billing_holiday "
            "WHERE calendar_id = ANY(%s) AND date BETWEEN %s AND %s",
            [sorted({v[3] for rows in versions.values() for v in rows}), first_day, last_day],
        ):
            holidays[calendar].add(day)
        events = set(
            cursor.execute(
                "SELECT version_id, date FROM billing_criticalpeakday WHERE version_id = ANY(%s) "
                "AND date BETWEEN %s AND %s",
                [version_ids, first_day, last_day],
            )
        )
    zone = zoneinfo.ZoneInfo(month.zone)
    local_starts = [start.astimezone(zone) for start in month.starts()]
    vectors = {}
    for tariff in tariff_ids:
        vector = _vector(tariff, versions[tariff], periods, holidays, events, local_starts)
        if vector is not None:
            vectors[tariff] = vector
    return vectors


def _vector(tariff, versions, periods, holidays, events, local_starts) -> PriceVector | None:
    """None when some day of the month has no version in force: such a tariff cannot be priced."""
    exact, keys, lines, index = [], [], [], {}
    for local in local_starts:
        day = local.date()
        version = next((v for v in versions if v[1] <= day and (v[2] is None or day < v[2])), None)
        if version is None:
            return None
        version_id, _, _, calendar, weekday, weekend, adder, cpp_start, cpp_end = version
        workday = day.weekday() < 5 and day not in holidays[calendar]
        period = (weekday if workday else weekend)[local.month - 1][local.hour]
        label, price = periods[(version_id, period)]
        if adder is not None and (version_id, day) in events and cpp_start <= local.hour < cpp_end:
            price += adder
        key = (label, price)
        if key not in index:
            index[key] = len(keys)
            keys.append(key)
        lines.append(index[key])
        exact.append(price)
    return PriceVector(
        tariff, np.array([float(p) for p in exact]), np.array(lines, dtype=np.intp), keys, exact
    )


class Rater:
    """A `Utilityrate5` model set up once for one tariff's month: each call rates one energy series."""

    def __init__(self, vector: PriceVector, month: Month):
        import PySAM.Utilityrate5 as utilityrate5

        self.vector = vector
        self.offset = month.pysam_offset
        self.intervals = month.intervals
        if self.offset + self.intervals > YEAR_STEPS:
            raise ValueError(f"{month.first_day:%Y-%m} does not fit in PySAM's year")
        prices = np.zeros(YEAR_STEPS)
        prices[self.offset : self.offset + self.intervals] = vector.prices
        model = utilityrate5.new()
        model.Lifetime.analysis_period = 1
        model.Lifetime.inflation_rate = 0
        model.Lifetime.system_use_lifetime_output = 0
        model.SystemOutput.degradation = [0]
        rates = model.ElectricityRates
        rates.en_electricity_rates = 1
        rates.rate_escalation = [0]
        rates.ur_metering_option = 2  # net billing: every step bought or sold at its own price
        rates.ur_monthly_fixed_charge = 0
        rates.ur_dc_enable = 0
        rates.ur_ec_sched_weekday = [[1] * 24] * 12
        rates.ur_ec_sched_weekend = [[1] * 24] * 12
        rates.ur_ec_tou_mat = [[1, 1, 1e38, 0, 0.0, 0.0]]  # period, tier, max, unit, buy, sell
        rates.ur_en_ts_buy_rate = 1
        rates.ur_ts_buy_rate = prices
        rates.ur_en_ts_sell_rate = 1
        rates.ur_ts_sell_rate = prices
        self.model = model

    def charge(self, kwh: np.ndarray) -> tuple[float, np.ndarray]:
        """The month's energy charge of `kwh` (one value per interval) and the charge of each interval."""
        load = np.zeros(YEAR_STEPS)
        gen = np.zeros(YEAR_STEPS)
        window = slice(self.offset, self.offset + self.intervals)
        power = kwh * STEPS_PER_HOUR  # PySAM takes kW averaged over the step
        load[window] = np.maximum(power, 0)
        gen[window] = np.maximum(-power, 0)
        self.model.Load.load = load
        self.model.SystemOutput.gen = gen
        self.model.execute(0)
        outputs = self.model.Outputs
        steps = np.asarray(outputs.year1_hourly_ec_with_system)[window]
        return float(sum(outputs.year1_monthly_ec_charge_with_system)), steps


@dataclass
class Rated:
    """What PySAM charged: per charge (premise, kind, tariff) and per bill line; reads read, calls made."""

    charges: dict[ChargeKey, float] = field(default_factory=dict)
    lines: dict[LineKey, float] = field(default_factory=dict)
    rows: int = 0
    calls: int = 0

    def merge(self, other: "Rated") -> None:
        self.charges.update(other.charges)
        self.lines.update(other.lines)
        self.rows += other.rows
        self.calls += other.calls


# A batch's reads of the month, each with its interval's index in the month (`step`): the bound PEV reads
# (a session whose load correlation failed, not cleared by a CSR, counts as unbound) with their enrollment,
# and the revenue meters' reads. Plain scans of the month's partitions: the arithmetic is numpy's.
PEV_SQL = """
SELECT r.premise_id, r.enrollment_id, extract(epoch FROM r.interval_start - %(start)s)::int / 900, r.wh
FROM metering_pevread r
WHERE r.premise_id = ANY(%(premises)s) AND r.enrollment_id IS NOT NULL
  AND r.interval_start >= %(start)s AND r.interval_start < %(end)s
  AND NOT EXISTS (
      SELECT FROM metering_loadcorrelation c
      WHERE c.binding_id = r.binding_id AND c.result = 'fail' AND c.cleared_at IS NULL
  )
"""
PREMISE_SQL = """
SELECT premise_id, extract(epoch FROM interval_start - %(start)s)::int / 900, wh
FROM metering_premiseread
WHERE premise_id = ANY(%(premises)s) AND interval_start >= %(start)s AND interval_start < %(end)s
"""
# Each enrollment's plan tariff: its plan's, and the plans assigned to it over the month (which win).
PLANS_SQL = """
SELECT e.id, current.tariff_id, a.effective_from, a.effective_to, assigned.tariff_id
FROM enrollment_enrollment e
JOIN enrollment_serviceplan current ON current.id = e.plan_id
LEFT JOIN enrollment_planassignment a ON a.enrollment_id = e.id
     AND a.effective_from < %(end)s AND (a.effective_to IS NULL OR a.effective_to > %(start)s)
LEFT JOIN enrollment_serviceplan assigned ON assigned.id = a.plan_id
WHERE e.id = ANY(%(enrollments)s)
"""
DEFAULT_TARIFFS_SQL = "SELECT id, default_tariff_id FROM enrollment_premise WHERE id = ANY(%(premises)s)"


@dataclass
class Energy:
    """A batch's month as numpy arrays: bound PEV reads (premise, tariff, step, Wh) and each premise's
    net energy per interval (revenue meter minus the bound PEV energy measured there), in Wh."""

    pev: np.ndarray  # (n, 4) int64
    premises: np.ndarray  # the batch's premise ids with revenue-meter reads, ascending
    net: np.ndarray  # (premises, intervals) int64 Wh
    default_tariffs: dict[int, int]
    rows: int


def energy(conn: psycopg.Connection, premises: Sequence[int], month: Month) -> Energy:
    """Read a batch of premises' month: four queries whatever the batch's size."""
    params = {"premises": list(premises), "start": month.start, "end": month.end}
    with conn.cursor(binary=True) as cursor:
        pev = np.array(cursor.execute(PEV_SQL, params).fetchall(), dtype=np.int64).reshape(-1, 4)
        metered = np.array(cursor.execute(PREMISE_SQL, params).fetchall(), dtype=np.int64).reshape(-1, 3)
        defaults = dict(cursor.execute(DEFAULT_TARIFFS_SQL, params).fetchall())
        params["enrollments"] = np.unique(pev[:, 1]).tolist()
        plans = cursor.execute(PLANS_SQL, params).fetchall()
    pev[:, 1] = _plan_tariffs(pev[:, 1], pev[:, 2], plans, month)
    ids = np.unique(metered[:, 0])
    net = np.zeros((len(ids), month.intervals), dtype=np.int64)
    np.add.at(net, (np.searchsorted(ids, metered[:, 0]), metered[:, 1]), metered[:, 2])
    measured_here = np.isin(pev[:, 0], ids)
    at = pev[measured_here]
    np.subtract.at(net, (np.searchsorted(ids, at[:, 0]), at[:, 2]), at[:, 3])
    return Energy(pev, ids, net, defaults, len(pev) + len(metered))


def _plan_tariffs(enrollments: np.ndarray, steps: np.ndarray, plans: list[tuple], month: Month) -> np.ndarray:
    """The tariff of each read's enrollment's plan in force at the read's interval."""
    tariffs = np.full(len(enrollments), -1, dtype=np.int64)
    for enrollment, current, *_ in plans:
        tariffs[enrollments == enrollment] = current
    for enrollment, _, start, end, assigned in plans:
        if start is not None:
            last = month.intervals if end is None else _step_at(end, month)
            in_force = (enrollments == enrollment) & (steps >= _step_at(start, month)) & (steps < last)
            tariffs[in_force] = assigned
    return tariffs


def _step_at(moment: dt.datetime, month: Month) -> int:
    """The first interval of the month starting at or after `moment`."""
    return max(0, math.ceil((moment - month.start).total_seconds() / INTERVAL_SECONDS))


def rate_batch(
    conn: psycopg.Connection, premises: Sequence[int], month: Month, raters: dict[int, Rater]
) -> Rated:
    """Read a batch of premises' month and rate each premise × kind × tariff in one PySAM call."""
    read = energy(conn, premises, month)
    rated = Rated(rows=read.rows)
    pev = read.pev
    for premise, tariff in sorted({(int(p), int(t)) for p, t in pev[:, :2].tolist()}):
        mine = pev[(pev[:, 0] == premise) & (pev[:, 1] == tariff)]
        wh = np.bincount(mine[:, 2], weights=mine[:, 3], minlength=month.intervals)
        _rate(rated, raters[tariff], (premise, PEV_ENERGY, tariff), wh)
    for premise, wh in zip(read.premises.tolist(), read.net, strict=True):
        tariff = read.default_tariffs[premise]
        _rate(rated, raters[tariff], (premise, PREMISE_ENERGY, tariff), wh)
    return rated


def _rate(rated: Rated, rater: Rater, key: ChargeKey, wh: np.ndarray) -> None:
    """One PySAM call: the charge of `wh` (one value per interval), and its lines."""
    kwh = wh / 1000
    total, steps = rater.charge(kwh)
    rated.charges[key] = total
    by_line = np.bincount(rater.vector.lines, weights=steps, minlength=len(rater.vector.keys))
    premise, kind, tariff = key
    for (label, price), amount in zip(rater.vector.keys, by_line, strict=True):
        rated.lines[(premise, kind, tariff, label, price)] = float(amount)
    rated.calls += 1


# --- One process's share: the bench rates in-process, or in a pool of BENCH_WORKERS processes -------------

_state: dict = {}


def start_worker(conninfo: str) -> None:
    """A rating process's set-up, done before any timing as the Celery worker's is: its connection, and
    PySAM loaded."""
    import PySAM.Utilityrate5  # noqa: F401 — loads the SSC library now, not inside a timed call

    _state["conn"] = psycopg.connect(conninfo, autocommit=True)


def rate_in_worker(
    round_id: int, premises: list[int], month: Month, vectors: dict[int, PriceVector]
) -> Rated:
    """Rate a batch; the PySAM models are set up from the round's price vectors at its first batch."""
    if _state.get("round") != round_id:
        _state["raters"] = {tariff: Rater(vector, month) for tariff, vector in vectors.items()}
        _state["round"] = round_id
    return rate_batch(_state["conn"], premises, month, _state["raters"])


def connection() -> psycopg.Connection:
    return _state["conn"]


def stop_worker() -> None:
    conn = _state.pop("conn", None)
    if conn is not None:
        conn.close()
    _state.clear()
