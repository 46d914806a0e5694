"""The one timestamp form devices send and read (NF.1): UTC to the second, `YYYY-MM-DDTHH:MM:SSZ`."""

import datetime as dt

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_second(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(FORMAT)


def parse_utc_second(text: str) -> dt.datetime:
    """The instant `text` names; ValueError unless it is a real date and time in exactly that form."""
    return dt.datetime.strptime(text, FORMAT).replace(tzinfo=dt.UTC)
