"""`/ops/`: the operations page and the figures panel it polls every 10 seconds (htmx, no inline script).

Staff only — a CSR or a Django staff user; a visitor is sent to sign in, a customer gets 403. Times are
shown in UTC, as on the CSR screens.
"""

import zoneinfo

from django.contrib.auth.mixins import UserPassesTestMixin
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from pevportal.operations import STATUS_FRESH_MINUTES, figures
from pevportal.roles import is_csr

UTC = zoneinfo.ZoneInfo("UTC")
REFRESH_SECONDS = 10


class StaffRequiredMixin(UserPassesTestMixin):
    """A CSR or a staff user; anonymous users are sent to log in, others get 403."""

    def test_func(self) -> bool:
        user = self.request.user
        return is_csr(user) or (user.is_authenticated and user.is_staff)

    def handle_no_permission(self):
        self.raise_exception = self.request.user.is_authenticated
        return super().handle_no_permission()


def _context() -> dict:
    return {
        "figures": figures(timezone.now()),
        "display_tz": UTC,
        "refresh_seconds": REFRESH_SECONDS,
        "fresh_minutes": STATUS_FRESH_MINUTES,
    }


class OperationsView(StaffRequiredMixin, View):
    def get(self, request):
        return render(request, "pevportal/ops/index.html", _context())


class FiguresView(StaffRequiredMixin, View):
    """The figures panel alone, for the page to swap in place."""

    def get(self, request):
        return render(request, "pevportal/ops/_figures.html", _context())
