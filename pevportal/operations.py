"""The utility operations view's figures (issue 7): where PEVs charge now, the load they add per feeder,
how bindings, ingest and billing are doing, and how much waits for a person (docs/operations.md,
"Operations view").

`figures(now)` reads everything the page shows in a fixed number of aggregate queries — one per figure
group, whatever the number of premises, bindings or reads — because the page asks again every 10 seconds.
"""

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, IntegerField, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce

from billing.models import BillHold, BillingRun
from binding.models import Binding, PevStatus
from enrollment.models import TransferRequest
from metering.models import LoadCorrelation, ReadingBatch, ReadRevision
from pevportal.models import ImportRun

# A status older than this no longer says the PEV is charging now: the ESCI reports while it charges.
STATUS_FRESH_MINUTES = 15
FEEDER_ROWS = 25  # the most loaded feeders the page lists; the total covers every feeder
AMI_IMPORT_KIND = "ami"


@dataclass
class FeederLoad:
    feeder_id: str
    charging: int
    kw: float


@dataclass
class Figures:
    """What the operations page shows, as of `now`."""

    now: dt.datetime
    charging: int = 0
    plugged_in: int = 0
    charging_kw: float = 0.0
    feeders: list[FeederLoad] = field(default_factory=list)
    feeders_total: int = 0
    bindings: dict[str, int] = field(default_factory=dict)
    ingest: dict[str, int] = field(default_factory=dict)
    billing_run: BillingRun | None = None
    open_holds: int = 0
    queues: dict[str, int] = field(default_factory=dict)

    @property
    def reads_per_second(self) -> dict[str, float]:
        """Reads stored per second over the last 5 and 60 minutes (EUMD batches and AMI files)."""
        return {
            "5": self.ingest.get("reads_5", 0) / 300,
            "60": (self.ingest.get("reads_60", 0) + self.ingest.get("ami_60", 0)) / 3600,
        }


def figures(now: dt.datetime) -> Figures:
    """Every figure of the operations page, in a fixed number of queries."""
    result = Figures(now=now)
    _charging(result, now)
    result.bindings = _bindings(now)
    result.ingest = _ingest(now)
    result.billing_run = BillingRun.objects.select_related("account").order_by("-created_at", "-pk").first()
    result.queues = _queues()
    result.open_holds = result.queues["bill_holds"]
    return result


# Sessions still plugged in: bound, in their handshake, or declined — a declined PEV charges all the same, at
# the premise's default rate (Req 7), and adds the same load to its feeder. An unplugged session has
# `unplugged_at`; a superseded or closed one is over whether or not it has.
FINISHED = (Binding.State.ENDED, Binding.State.SUPERSEDED, Binding.State.CLOSED)


def _charging_now(now: dt.datetime):
    """PEVs charging now: sessions still plugged in, not past their maximum length, whose latest status,
    reported in the last STATUS_FRESH_MINUTES, says charging — bound or charging at the default rate."""
    return PevStatus.objects.exclude(binding__state__in=FINISHED).filter(
        binding__unplugged_at__isnull=True,
        binding__plugged_in_at__gt=now - dt.timedelta(hours=settings.BINDING_MAX_DURATION_HOURS),
        charging_state=PevStatus.ChargingState.CHARGING,
        reported_at__gte=now - dt.timedelta(minutes=STATUS_FRESH_MINUTES),
    )


def _charging(result: Figures, now: dt.datetime) -> None:
    rows = list(
        _charging_now(now)
        .values_list("binding__premise__feeder_id")
        .annotate(n=Count("pk"), watts=Coalesce(Sum("power_w"), 0))
        .order_by("-watts", "binding__premise__feeder_id")
    )
    result.charging = sum(n for _, n, _ in rows)
    result.charging_kw = sum(watts for _, _, watts in rows) / 1000
    result.feeders_total = len(rows)
    result.feeders = [FeederLoad(feeder, n, watts / 1000) for feeder, n, watts in rows[:FEEDER_ROWS]]
    result.plugged_in = Binding.objects.filter(
        state=Binding.State.BOUND,
        plugged_in_at__gt=now - dt.timedelta(hours=settings.BINDING_MAX_DURATION_HOURS),
    ).count()


def _bindings(now: dt.datetime) -> dict[str, int]:
    """Handshakes in progress now, and how the last hour's plug-ins ended: bound, declined (unbound: the
    energy stays at the default rate), timed out — a handshake past its deadline counts as timed out
    before the sweep moves it (Binding.effective_state)."""
    hour_ago = now - dt.timedelta(hours=1)
    handshake = Q(state__in=Binding.HANDSHAKE_STATES)
    return Binding.objects.filter(
        handshake | Q(bound_at__gte=hour_ago) | Q(finished_at__gte=hour_ago)
    ).aggregate(
        pending=Count("pk", filter=handshake & Q(deadline__gt=now)),
        bound=Count("pk", filter=Q(bound_at__gte=hour_ago)),
        failed=Count("pk", filter=Q(state=Binding.State.UNBOUND, finished_at__gte=hour_ago)),
        timed_out=Count(
            "pk",
            filter=Q(state=Binding.State.TIMED_OUT, finished_at__gte=hour_ago)
            | (handshake & Q(deadline__lte=now, deadline__gte=hour_ago)),
        ),
    )


def _ingest(now: dt.datetime) -> dict[str, int]:
    """Reads stored from EUMD batches in the last 5 and 60 minutes (their `accepted` count), and from AMI
    files imported in the last hour."""
    five, hour = now - dt.timedelta(minutes=5), now - dt.timedelta(hours=1)
    accepted = Coalesce(Cast(KT("result__accepted"), IntegerField()), 0)
    batches = ReadingBatch.objects.filter(received_at__gte=hour).aggregate(
        batches_5=Count("pk", filter=Q(received_at__gte=five)),
        batches_60=Count("pk"),
        reads_5=Coalesce(Sum(accepted, filter=Q(received_at__gte=five)), 0),
        reads_60=Coalesce(Sum(accepted), 0),
    )
    ami = ImportRun.objects.filter(kind=AMI_IMPORT_KIND, finished_at__gte=hour).aggregate(
        ami_60=Coalesce(Sum("rows_created"), 0), files_60=Count("pk")
    )
    return {**batches, **ami}


def _queues() -> dict[str, int]:
    """What waits for a person: open read revisions, failed load correlations not cleared, open bill holds,
    vehicle transfers to decide. Each count uses its queue's own (partial) index."""
    return {
        "revisions": ReadRevision.objects.open().count(),
        "correlations": LoadCorrelation.objects.filter(
            result=LoadCorrelation.Result.FAIL, cleared_at__isnull=True
        ).count(),
        "bill_holds": BillHold.objects.filter(status=BillHold.Status.OPEN).count(),
        "transfers": TransferRequest.objects.filter(status=TransferRequest.Status.PENDING).count(),
    }
