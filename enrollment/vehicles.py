"""What a VIN tells about the vehicle (make, model, model year), decoded with the maintained `vininfo`
library, and the PEV registry row for a VIN."""

from dataclasses import dataclass

from django.utils import timezone
from vininfo import Vin

from enrollment.models import Pev


@dataclass(frozen=True)
class VehicleInfo:
    make: str = ""
    model: str = ""
    year: int | None = None


def decode_vin(vin: str) -> VehicleInfo:
    """Best effort: a VIN's world manufacturer code is reliable, its model code only for some makers, and
    its year letter repeats every 30 years, so the latest year not after next year is taken."""
    decoded = Vin(vin)
    make = decoded.manufacturer or ""
    details = decoded.details
    name = getattr(getattr(details, "model", None), "name", None)
    # Some makers' tables give several candidate names for one code: show one only when it is certain.
    if isinstance(name, list):
        name = name[0] if len(name) == 1 else None
    model = name or ""
    latest_possible = timezone.now().year + 1
    years = [year for year in decoded.years if year <= latest_possible]
    return VehicleInfo(
        make=make if make != "UnsupportedBrand" else "", model=model, year=max(years, default=None)
    )


def pev_for_vin(vin: str) -> Pev:
    """The registry row of a (validated, normalised) VIN, created with what the VIN decodes to."""
    info = decode_vin(vin)
    pev, _ = Pev.objects.get_or_create(
        vin=vin, defaults={"make": info.make, "model": info.model, "year": info.year}
    )
    return pev
