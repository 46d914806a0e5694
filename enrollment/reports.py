"""Exports for utility staff. Rows stream from the database in chunks, so a report over a million
premises neither loads them all into memory nor times out before the first byte."""

from collections.abc import Iterator

from enrollment.models import PremiseQuerySet
from pevportal.csvexport import defuse_formula

NOT_ENROLLED_COLUMNS = [
    "premise_id",
    "account_number",
    "customer_name",
    "email",
    "phone",
    "service_address",
    "postal_code",
    "meter_id",
    "feeder_id",
    "default_tariff_code",
]


def not_enrolled_rows(premises: PremiseQuerySet) -> Iterator[list[str]]:
    """The header, then one row per premise with no PEV enrolled (Req 5)."""
    yield NOT_ENROLLED_COLUMNS
    values = premises.order_by("premise_id").values_list(
        "premise_id",
        "account__number",
        "account__customer__name",
        "account__customer__email",
        "account__customer__phone",
        "service_address",
        "postal_code",
        "meter_id",
        "feeder_id",
        "default_tariff__code",
    )
    for row in values.iterator(chunk_size=2000):
        yield [defuse_formula(cell) for cell in row]
