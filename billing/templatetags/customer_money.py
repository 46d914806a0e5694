"""Money and energy as the customer pages print them (issue 7): "$1,234.56", "−$4.71", "12.3 kWh"."""

from decimal import ROUND_HALF_UP, Decimal

from django import template

register = template.Library()


@register.filter
def dollars(amount) -> str:
    """An amount already rounded to the cent by billing (never rounded again here), with a true minus."""
    if amount is None or amount == "":
        return ""
    amount = Decimal(amount)
    text = f"${abs(amount):,.2f}"
    return f"−{text}" if amount < 0 else text


@register.filter
def unit_price(price) -> str:
    """A unit price as the rate sheet gives it (5 places), with a true minus: "$0.25362", "−$0.15200"."""
    if price is None or price == "":
        return ""
    price = Decimal(price)
    return f"−${abs(price)}" if price < 0 else f"${price}"


@register.filter
def kwh1(value) -> str:
    """kWh to one decimal, half up, for charts' tables: 12.345 → "12.3"."""
    if value is None or value == "":
        return ""
    return f"{Decimal(value).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):,}"
