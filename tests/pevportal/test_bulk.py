"""pevportal/bulk.py: column-wise inserts write exactly the values given, awkward text included."""

import numpy as np
import pytest

from enrollment.models import Pev
from pevportal.bulk import insert_columns

pytestmark = pytest.mark.django_db


def test_it_inserts_columns_as_given():
    insert_columns(
        Pev,
        {
            "vin": ["VINA", "VINB", "VINC"],
            "make": ["Tesla", "", "Kia"],
            "model": ["3", "", "EV6"],
            "year": np.array([2019, 2020, 2021]),
        },
    )

    assert list(Pev.objects.order_by("vin").values_list("vin", "make", "year")) == [
        ("VINA", "Tesla", 2019),
        ("VINB", "", 2020),
        ("VINC", "Kia", 2021),
    ]


def test_it_keeps_tabs_newlines_backslashes_and_the_null_marker_as_text():
    awkward = ["tab\there", "new\nline", "back\\slash", "\\N", "cr\rhere"]
    insert_columns(
        Pev,
        {
            "vin": [f"V{n}" for n in range(5)],
            "make": [""] * 5,
            "model": awkward,
            "year": [None, 2020, None, 2022, None],
        },
    )

    stored = dict(Pev.objects.values_list("vin", "model"))
    assert [stored[f"V{n}"] for n in range(5)] == awkward
    assert list(Pev.objects.order_by("vin").values_list("year", flat=True)) == [None, 2020, None, 2022, None]
