"""The rule every CSV export shares: a text cell a spreadsheet would run as a formula is defused."""

FORMULA_STARTS = "=+-@\t\r"


def defuse_formula(value: str) -> str:
    """Neutralise spreadsheet formula injection (a name like "=HYPERLINK(...)"): such a cell is prefixed with
    an apostrophe, which spreadsheets show as text. Apply it to text columns only — a negative amount is a
    number, not a formula."""
    return f"'{value}" if value and value[0] in FORMULA_STARTS else value
