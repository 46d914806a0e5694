"""Reads written straight to the database for load correlation and review tests: a metered home's EUMD
and revenue meter, and a household load that does or does not explain the PEV's energy."""

import datetime as dt

from binding.models import Binding
from metering import partitions
from metering.models import Meter, MeterKind, PevRead, PremiseRead
from tests.metering.homes import MeteredHome

UTC = dt.UTC
QUARTER = 900
# 19:00 in Los Angeles (PST), the premise tariffs' zone: an evening charge of two hours.
PLUGGED_IN = dt.datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
UNPLUGGED = PLUGGED_IN + dt.timedelta(hours=2)
SOON_AFTER = UNPLUGGED + dt.timedelta(hours=1)
DAYS_AFTER = UNPLUGGED + dt.timedelta(days=4)
CHARGING = [1800] * 8  # 7.2 kW for two hours, in quarter hours
HOUSE = 300  # the rest of the house, per quarter hour


def eumd_meter(home: MeteredHome) -> Meter:
    return Meter.objects.get_or_create(kind=MeterKind.EUMD, eumd=home.eumd)[0]


def premise_meter(home: MeteredHome) -> Meter:
    return Meter.objects.get_or_create(kind=MeterKind.PREMISE, premise=home.premise)[0]


def write_pev_reads(
    home: MeteredHome, binding: Binding, energies, *, start=PLUGGED_IN, seconds=QUARTER
) -> list[PevRead]:
    """One attributed PEV read per entry from `start`; None leaves that interval out."""
    meter = eumd_meter(home)
    reads = [
        PevRead(
            meter=meter,
            interval_start=start + dt.timedelta(seconds=seconds * n),
            interval_seconds=seconds,
            wh=wh,
            vin=binding.vin,
            premise_id=binding.premise_id,
            binding=binding,
            enrollment_id=binding.billed_enrollment_id,
        )
        for n, wh in enumerate(energies)
        if wh is not None
    ]
    return _insert(PevRead, reads)


def write_premise_reads(home: MeteredHome, energies, *, start, seconds=QUARTER) -> list[PremiseRead]:
    """One revenue-meter read per entry from `start`; None leaves that interval out."""
    meter = premise_meter(home)
    reads = [
        PremiseRead(
            meter=meter,
            interval_start=start + dt.timedelta(seconds=seconds * n),
            interval_seconds=seconds,
            wh=wh,
            premise=home.premise,
        )
        for n, wh in enumerate(energies)
        if wh is not None
    ]
    return _insert(PremiseRead, reads)


def write_household(
    home: MeteredHome, pev_energies, *, start=PLUGGED_IN, house=HOUSE, margin=4, seconds=QUARTER
) -> list[PremiseRead]:
    """The revenue meter of a house using `house` Wh per interval plus the PEV's energy, from `margin`
    intervals before `start` to `margin` intervals after the PEV's last."""
    energies = [house] * margin + [house + wh for wh in pev_energies] + [house] * margin
    return write_premise_reads(
        home, energies, start=start - dt.timedelta(seconds=seconds * margin), seconds=seconds
    )


def charged_session(home: MeteredHome, energies=CHARGING, *, start=PLUGGED_IN) -> Binding:
    """A bound session unplugged when its quarter-hour PEV reads end, with those reads."""
    binding = home.session(start, start + dt.timedelta(seconds=QUARTER * len(energies)))
    write_pev_reads(home, binding, energies, start=start)
    return binding


def _insert(model, reads):
    if reads:
        partitions.ensure_partitions(reads[0].interval_start, reads[-1].interval_start)
        model.objects.bulk_create(reads)
    return reads
