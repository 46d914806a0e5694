"""CSR screens (phone channel). Every view requires the CSR role (pevportal.roles)."""

import csv

from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.views import View

from enrollment.forms.csr import NotEnrolledFilterForm
from enrollment.models import Premise
from enrollment.reports import not_enrolled_rows
from pevportal.roles import CsrRequiredMixin


class NotEnrolledReportView(CsrRequiredMixin, View):
    """CSR: customers and premises with no PEV enrolled (Req 5), filterable and exportable to CSV."""

    page_size = 50

    def get(self, request):
        form = NotEnrolledFilterForm(request.GET or None)
        premises = Premise.objects.not_enrolled()
        if form.is_valid():
            premises = premises.matching(**form.cleaned_data)
        if request.GET.get("format") == "csv":
            return _csv_response("premises-not-enrolled.csv", not_enrolled_rows(premises))
        page = Paginator(
            premises.select_related("account__customer", "default_tariff").order_by("premise_id"),
            self.page_size,
        ).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        return render(
            request,
            "enrollment/csr/not_enrolled.html",
            {"form": form, "page": page, "query": query.urlencode(), "total": page.paginator.count},
        )


class _Echo:
    def write(self, value):
        return value


def _csv_response(filename: str, rows) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
