"""A metered home for metering tests: premise, ESCI, EUMD, an enrolled PEV, bound sessions written
straight to the database, and a signed `POST /device/v1/readings`."""

import datetime as dt
import json
import uuid

from binding.models import Binding, DeviceKind
from binding.signing import DeviceSigner
from enrollment.models import ServicePlan
from tests.factories import EnrollmentFactory, PevFactory, PremiseFactory

BASE = "http://testserver"
READINGS = "/device/v1/readings"


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class MeteredHome:
    """A premise on the plan's tariff as default rate, with its ESCI and EUMD and an enrolled PEV."""

    def __init__(self, make_device, *, plan: ServicePlan | None = None):
        self.plan = plan or ServicePlan.objects.select_related("tariff").get(code="ev-standard")
        self.premise = PremiseFactory(default_tariff=self.plan.tariff)
        self.esci, self.esci_key = make_device(DeviceKind.ESCI, premise=self.premise)
        self.eumd, self.eumd_key = make_device(DeviceKind.EUMD, premise=self.premise)
        self.pev = PevFactory()
        self.vin = self.pev.vin
        self.enrollment = EnrollmentFactory(pev=self.pev, premise=self.premise, plan=self.plan)

    def session(
        self, start: dt.datetime, end: dt.datetime | None, *, bound: bool = True, vin=None
    ) -> Binding:
        """A plug-in from `start` to `end` (None: still plugged in) that reached bound, or was declined."""
        state = (Binding.State.ENDED if end else Binding.State.BOUND) if bound else Binding.State.UNBOUND
        return Binding.objects.create(
            esci=self.esci,
            eumd=self.eumd,
            eumd_lfdi=self.eumd.lfdi,
            vin=vin or self.vin,
            pev=self.pev if (vin or self.vin) == self.vin else None,
            premise=self.premise,
            enrollment=self.enrollment if bound else None,
            billed_enrollment=self.enrollment if bound else None,
            kind=Binding.Kind.REBINDING if bound else "",
            state=state,
            reason="" if bound else Binding.Reason.UNKNOWN_VIN,
            plugged_in_at=start,
            deadline=start + dt.timedelta(seconds=30),
            bound_at=start + dt.timedelta(seconds=2) if bound else None,
            unplugged_at=end,
            finished_at=end if bound else start,
            response={},
        )

    def reads(self, start: dt.datetime, count: int, *, wh=1500, seconds=900, vin=None) -> list[dict]:
        return [
            {
                "pev_id": vin or self.vin,
                "interval_start": stamp(start + dt.timedelta(seconds=seconds * n)),
                "interval_seconds": seconds,
                "wh": wh(n) if callable(wh) else wh,
            }
            for n in range(count)
        ]

    def post(self, client, reads, *, batch_id=None, device=None, key=None, body=None):
        """POST a batch signed by the EUMD (or `device`); returns the response."""
        payload = body if body is not None else {"batch_id": batch_id or uuid.uuid4().hex, "reads": reads}
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        device, key = device or self.eumd, key or self.eumd_key
        headers = DeviceSigner(device.lfdi, key).sign("POST", BASE + READINGS, raw)
        return client.generic("POST", READINGS, raw, content_type="application/json", headers=headers)
