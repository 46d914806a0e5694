"""PEV ID = VIN (Req 3): structure for every VIN, the 49 CFR 565.15 check digit for North-American ones."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from enrollment.vin import check_digit, normalize_vin, validate_vin

VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"


@pytest.mark.parametrize(
    "vin", ["1M8GDM9AXKP042788", "1HGCM82633A004352", "WVWZZZ1JZXW000001", "JH4KA7561PC008269"]
)
def test_it_accepts_valid_vins(vin):
    validate_vin(vin)


@pytest.mark.parametrize(
    ("vin", "code"),
    [
        ("1HGCM82633A00435", "vin_length"),
        ("1HGCM82633A0043521", "vin_length"),
        ("1HGCM82633A004353", "vin_check_digit"),
        ("1HGCM8263IA004352", "vin_characters"),
        ("1HGCM8263OA004352", "vin_characters"),
        ("1HGCM8263QA004352", "vin_characters"),
        ("1HGCM8263_A004352", "vin_characters"),
    ],
)
def test_it_rejects_bad_vins_with_a_specific_reason(vin, code):
    with pytest.raises(ValidationError) as excinfo:
        validate_vin(vin)

    assert excinfo.value.code == code


def test_it_uses_x_for_a_check_value_of_ten():
    assert check_digit("1M8GDM9AXKP042788") == "X"


def test_it_normalizes_what_people_type():
    assert normalize_vin(" 1hgcm8-2633a 004352 ") == "1HGCM82633A004352"


@given(st.text(alphabet=VIN_CHARS, min_size=17, max_size=17).filter(lambda v: v[0] in "12345"))
def test_it_accepts_any_north_american_vin_whose_check_digit_is_computed(body):
    vin = body[:8] + check_digit(body) + body[9:]

    validate_vin(vin)


@given(st.text(alphabet=VIN_CHARS, min_size=17, max_size=17).filter(lambda v: v[0] in "12345"))
def test_it_detects_any_single_wrong_check_digit(body):
    right = check_digit(body)
    wrong = next(c for c in "0123456789X" if c != right)

    with pytest.raises(ValidationError):
        validate_vin(body[:8] + wrong + body[9:])
