"""Daily energy for the read-only API (`GET /api/v1/usage`): per premise, local day and TOU period, the
premise meter's and the PEVs', from the metering rollups — two queries whatever the range."""

import datetime as dt
from collections import defaultdict

from django.db.models import Sum

from enrollment.models import Premise
from metering.models import UsageRollup, UsageSource

# A display reads at most about a year per request; a longer history is several requests.
MAX_DAYS = 366


def daily_usage(accounts, start: dt.date, end: dt.date) -> list[dict]:
    """Each premise of `accounts` with one entry per local day in [start, end] that has energy.

    `premise_wh` is the revenue meter (the whole home, PEV charging included, BR.8); `pev_wh` the PEV
    submeters at the premise (guests' included); `rest_wh` the home without them — None until the
    premise meter's reads for the day arrive, and never below zero (the meters' data can arrive apart).
    """
    premises = list(
        Premise.objects.filter(account__in=accounts)
        .select_related("default_tariff")
        .order_by("premise_id")
        .only("pk", "premise_id", "service_address", "default_tariff__time_zone")
    )
    rows = (
        UsageRollup.objects.filter(premise__in=[p.pk for p in premises], day__gte=start, day__lte=end)
        .values("premise_id", "day", "source", "period_index", "period_label")
        .annotate(wh=Sum("wh"), reads=Sum("reads"))
        .order_by("premise_id", "day", "source", "period_index")
    )
    days: dict[int, dict[dt.date, dict]] = defaultdict(dict)
    for row in rows:
        day = days[row["premise_id"]].setdefault(
            row["day"], {"premise_wh": 0, "pev_wh": 0, "premise_reads": 0, "premise": {}, "pev": {}}
        )
        source = "pev" if row["source"] == UsageSource.PEV else "premise"
        day[f"{source}_wh"] += row["wh"]
        if source == "premise":
            day["premise_reads"] += row["reads"]
        # Bound PEV energy is classified by the plan's tariff, the rest by the premise's: the same label
        # from two tariffs is one period to a display.
        periods = day[source]
        periods[row["period_label"]] = periods.get(row["period_label"], 0) + row["wh"]
    return [
        {
            "premise_id": premise.premise_id,
            "service_address": premise.service_address,
            "time_zone": premise.default_tariff.time_zone,
            "days": [_day(date, totals) for date, totals in sorted(days[premise.pk].items())],
        }
        for premise in premises
    ]


def _day(date: dt.date, totals: dict) -> dict:
    has_premise_reads = totals["premise_reads"] > 0
    return {
        "date": date,
        "premise_wh": totals["premise_wh"] if has_premise_reads else None,
        "pev_wh": totals["pev_wh"],
        "rest_wh": max(totals["premise_wh"] - totals["pev_wh"], 0) if has_premise_reads else None,
        "periods": [
            {"source": source, "period": label, "wh": wh}
            for source in ("premise", "pev")
            for label, wh in totals[source].items()
        ],
    }
