"""A billed home for billing tests: a premise on SCE TOU-D-4-9PM with a PEV on the EV Prime plan
(SCE TOU-D-PRIME), its meters, and a month of reads written straight to the read tables."""

import datetime as dt
import zoneinfo

import numpy as np

from binding.models import Binding, DeviceKind
from enrollment.models import ServicePlan
from metering import partitions
from metering.models import Meter, MeterKind, PevRead, PremiseRead
from pevportal.bulk import insert_columns
from tests.factories import EnrollmentFactory, PremiseFactory

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
UTC = dt.UTC


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=LA).astimezone(UTC)


class BilledHome:
    def __init__(self, make_device, *, plan_code="ev-prime"):
        self.plan = ServicePlan.objects.select_related("tariff").get(code=plan_code)
        default = ServicePlan.objects.get(code="ev-standard").tariff  # SCE-TOU-D-4-9PM
        self.premise = PremiseFactory(default_tariff=default)
        self.esci, _ = make_device(DeviceKind.ESCI, premise=self.premise)
        self.eumd, _ = make_device(DeviceKind.EUMD, premise=self.premise)
        self.enrollment = EnrollmentFactory(
            premise=self.premise,
            plan=self.plan,
            status="active",
            effective_from=dt.datetime(2026, 1, 1, tzinfo=UTC),
        )
        self.vin = self.enrollment.pev.vin
        self.premise_meter = Meter.objects.create(kind=MeterKind.PREMISE, premise=self.premise)
        self.eumd_meter = Meter.objects.create(kind=MeterKind.EUMD, eumd=self.eumd)

    def premise_reads(self, start: dt.datetime, end: dt.datetime, wh=400, seconds=900, skip=()):
        epochs = np.arange(int(start.timestamp()), int(end.timestamp()), seconds)
        epochs = np.array([e for e in epochs.tolist() if e not in set(skip)], dtype=np.int64)
        partitions.ensure_partitions(start, end)
        insert_columns(
            PremiseRead,
            {
                "meter_id": np.full(len(epochs), self.premise_meter.pk),
                "interval_start": [dt.datetime.fromtimestamp(e, UTC) for e in epochs.tolist()],
                "interval_seconds": np.full(len(epochs), seconds),
                "wh": np.full(len(epochs), wh) if isinstance(wh, int) else np.array(wh),
                "flags": np.zeros(len(epochs), dtype=np.int64),
                "premise_id": np.full(len(epochs), self.premise.pk),
            },
        )
        return len(epochs)

    def session(
        self, start: dt.datetime, end: dt.datetime, wh=1800, seconds=900, bound=True, billed_to=None
    ) -> Binding:
        """A plug-in at this premise; `billed_to` another enrollment makes it a guest billed there."""
        billed = (billed_to or self.enrollment) if bound else None
        binding = Binding.objects.create(
            esci=self.esci,
            eumd=self.eumd,
            eumd_lfdi=self.eumd.lfdi,
            vin=self.vin,
            pev=self.enrollment.pev,
            premise=self.premise,
            enrollment=self.enrollment if bound else None,
            billed_enrollment=billed,
            kind=(Binding.Kind.GUEST if billed_to else Binding.Kind.REBINDING) if bound else "",
            state=Binding.State.ENDED if bound else Binding.State.UNBOUND,
            plugged_in_at=start,
            deadline=start + dt.timedelta(seconds=60),
            bound_at=start if bound else None,
            unplugged_at=end,
            finished_at=end,
            response={},
        )
        epochs = list(range(int(start.timestamp()), int(end.timestamp()), seconds))
        partitions.ensure_partitions(start, end)
        insert_columns(
            PevRead,
            {
                "meter_id": np.full(len(epochs), self.eumd_meter.pk),
                "interval_start": [dt.datetime.fromtimestamp(e, UTC) for e in epochs],
                "interval_seconds": np.full(len(epochs), seconds),
                "wh": np.full(len(epochs), wh),
                "flags": np.zeros(len(epochs), dtype=np.int64),
                "vin": [self.vin] * len(epochs),
                "premise_id": np.full(len(epochs), self.premise.pk),
                "binding_id": [str(binding.pk) if bound else None] * len(epochs),
                "enrollment_id": [billed.pk if bound else None] * len(epochs),
                "batch_id": [None] * len(epochs),
            },
        )
        return binding
