"""Vehicle Identification Numbers — the PEV ID (Req 3).

Structure per ISO 3779: 17 characters from 0-9 and A-Z without I, O and Q. North-American VINs (first
character 1–5) carry a check digit in position 9 (49 CFR 565.15); other regions' VINs are checked for
structure only, because their makers are not bound to the check digit.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

VIN_LENGTH = 17
_ALLOWED = re.compile(r"[0-9A-HJ-NPR-Z]")
_TRANSLITERATION = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def normalize_vin(value: str) -> str:
    """Upper-case and strip spaces and dashes, as people type VINs from a windshield label."""
    return re.sub(r"[\s-]", "", value or "").upper()


def check_digit(vin: str) -> str:
    """The 49 CFR 565.15 check digit for a 17-character VIN ('0'–'9' or 'X')."""
    total = sum(_TRANSLITERATION[ch] * weight for ch, weight in zip(vin, _WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def validate_vin(value: str) -> None:
    """Raise ValidationError with the specific problem, so a customer knows what to fix."""
    if len(value) != VIN_LENGTH:
        raise ValidationError(
            _("A VIN has 17 characters; this one has %(n)d.") % {"n": len(value)}, code="vin_length"
        )
    bad = sorted({ch for ch in value if not _ALLOWED.fullmatch(ch)})
    if bad:
        if set(bad) & {"I", "O", "Q"}:
            message = _("A VIN never contains the letters I, O or Q (did you mean 1 or 0?).")
        else:
            message = _("A VIN contains only digits and capital letters; found %(chars)s.") % {
                "chars": " ".join(repr(ch) for ch in bad)
            }
        raise ValidationError(message, code="vin_characters")
    if value[0] in "12345":
        expected = check_digit(value)
        if value[8] != expected:
            raise ValidationError(
                _("This VIN's check digit (9th character) does not match; please check it for typos."),
                code="vin_check_digit",
            )
