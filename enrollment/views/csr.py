"""CSR screens (phone channel). Every view requires the CSR role (pevportal.roles); each validates its form
and calls one function of enrolling, lifecycle or linking, which applies the rules and writes the audit."""

import csv
import datetime as dt
import zoneinfo
from abc import ABC, abstractmethod

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views import View

from enrollment import enrolling, lifecycle, linking, search
from enrollment.forms.csr import (
    CustomerSearchForm,
    MoveOutForm,
    NotEnrolledFilterForm,
    PhoneEnrollmentForm,
    PreferencesForm,
    PremiseChoiceForm,
    ReopenCommissioningForm,
    SwitchPlanForm,
    TransferDecisionForm,
    UnenrollForm,
)
from enrollment.models import (
    Customer,
    Enrollment,
    EnrollmentChannel,
    EnrollmentCode,
    GuestCharging,
    Premise,
    TransferRequest,
    UtilityAccount,
)
from enrollment.reports import not_enrolled_rows
from enrollment.vehicles import decode_vin
from pevportal.roles import CsrRequiredMixin

PHONE = EnrollmentChannel.PHONE
SEARCH_LIMIT = 50


def _render(request, template: str, context: dict):
    return render(request, f"enrollment/csr/{template}", {"now": timezone.now(), **context})


def _zone(premise: Premise | None) -> zoneinfo.ZoneInfo:
    # Stored in UTC, shown in the premise's local time — its tariff's zone — as on the customer's pages.
    return premise.default_tariff.zone if premise else zoneinfo.ZoneInfo("UTC")


def _local(moment: dt.datetime, premise: Premise) -> str:
    return date_format(timezone.localtime(moment, _zone(premise)), "DATETIME_FORMAT")


def _enrollment_or_404(pk: int) -> Enrollment:
    return get_object_or_404(
        Enrollment.objects.select_related(
            "pev", "premise__default_tariff", "plan__program", "account__customer"
        ),
        pk=pk,
    )


def _to_customer(customer_id: int):
    return redirect(reverse("csr-customer", args=[customer_id]))


class CustomerSearchView(CsrRequiredMixin, View):
    """Find the caller by account number, name, phone, email, VIN or premise."""

    def get(self, request):
        form = CustomerSearchForm(request.GET or None)
        customers = []
        if form.is_valid():
            customers = list(search.find_customers(form.cleaned_data["q"])[: SEARCH_LIMIT + 1])
        return _render(
            request,
            "search.html",
            {
                "form": form,
                "customers": customers[:SEARCH_LIMIT],
                "more": len(customers) > SEARCH_LIMIT,
                "limit": SEARCH_LIMIT,
            },
        )


class CustomerView(CsrRequiredMixin, View):
    """Everything about one customer, reached by customer or by account number, with the actions."""

    def get(self, request, pk=None, number=None):
        focus = None
        if number is not None:
            focus = get_object_or_404(UtilityAccount, number=number)
            pk = focus.customer_id
        try:
            customer = search.customer_for_csr(pk)
        except Customer.DoesNotExist:
            raise Http404 from None
        premises = [premise for account in customer.accounts.all() for premise in account.premises.all()]
        return _render(
            request,
            "customer.html",
            {
                "customer": customer,
                "focus": focus,
                "display_tz": _zone(premises[0] if premises else None),
                "enrollments": search.enrollments_for_customer(customer),
                "transfers": search.transfers_for_customer(customer),
            },
        )


class ViewAsCustomerView(CsrRequiredMixin, View):
    """What the customer sees of their enrollments, read-only; the CSR stays signed in as themselves."""

    def get(self, request, pk):
        customer = get_object_or_404(Customer, pk=pk)
        return _render(
            request,
            "view_as.html",
            {"customer": customer, "enrollments": search.enrollments_for_customer(customer)},
        )


class PhoneEnrollmentView(CsrRequiredMixin, View):
    """Enroll on the caller's behalf: premise, then VIN, plan and preferences, then review and confirm.

    Review runs the wizard's validation (enrolling.check_enrollment) and confirm enrolls through the same
    function as the wizard; a VIN enrolled elsewhere can be filed as a transfer for review instead."""

    def get(self, request, number):
        account = self._account(number)
        choice = PremiseChoiceForm(request.GET if "premise" in request.GET else None, account=account)
        if not choice.is_valid():
            return _render(request, "enroll_premise.html", {"account": account, "form": choice})
        premise = choice.cleaned_data["premise"]
        return self._details(request, account, PhoneEnrollmentForm(account=account, premise=premise), premise)

    def post(self, request, number):
        account = self._account(number)
        premise = Premise.objects.filter(premise_id=request.POST.get("premise", "")).first()
        form = PhoneEnrollmentForm(request.POST, account=account, premise=premise)
        action = request.POST.get("action")
        if not form.is_valid() or action == "edit":
            return self._details(request, account, form, premise)
        wanted = form.enrollment_request()
        try:
            if action == "confirm":
                enrollment = enrolling.enroll(wanted, channel=PHONE, actor=request.user)
                messages.success(
                    request,
                    _("%(vin)s is enrolled. Ask the caller to plug in at home before the window closes.")
                    % {"vin": enrollment.pev.vin},
                )
                return _to_customer(account.customer_id)
            if action == "transfer":
                enrolling.request_transfer(wanted, user=request.user, channel=PHONE)
                messages.success(
                    request,
                    _("The transfer of %(vin)s is filed for review; the current enrollment stays until then.")
                    % {"vin": wanted.vin},
                )
                return _to_customer(account.customer_id)
            enrolling.check_enrollment(wanted)
        except ValidationError as exc:
            form.add_domain_errors(exc)
            return self._details(request, account, form, premise)
        return _render(
            request,
            "enroll_review.html",
            {
                "account": account,
                "form": form,
                "wanted": wanted,
                "vehicle": decode_vin(wanted.vin),
                "guest_charging": GuestCharging(wanted.guest_charging).label,
                "window_days": enrolling.COMMISSIONING_WINDOW.days,
            },
        )

    @staticmethod
    def _account(number: str) -> UtilityAccount:
        return get_object_or_404(UtilityAccount.objects.select_related("customer"), number=number)

    @staticmethod
    def _details(request, account, form, premise):
        return _render(
            request,
            "enroll_details.html",
            {
                "account": account,
                "premise": premise,
                "form": form,
                "offer_transfer": form.has_error_code(enrolling.VIN_ENROLLED),
            },
        )


class IssueCodeView(CsrRequiredMixin, View):
    """A one-time enrollment code for the caller to link their account online; shown once, never stored."""

    def get(self, request, number):
        account = get_object_or_404(UtilityAccount.objects.select_related("customer"), number=number)
        return _render(request, "issue_code.html", {"account": account})

    def post(self, request, number):
        account = get_object_or_404(UtilityAccount.objects.select_related("customer"), number=number)
        code = linking.issue_code(account, csr=request.user)
        issued = EnrollmentCode.objects.filter(account=account, issued_by=request.user).latest("issued_at")
        zone = _zone(account.premises.select_related("default_tariff").order_by("premise_id").first())
        response = _render(
            request,
            "code_issued.html",
            {"account": account, "code": code, "expires_at": issued.expires_at, "display_tz": zone},
        )
        # The plain code must not survive in a browser or proxy cache.
        add_never_cache_headers(response)
        return response


class MoveOutView(CsrRequiredMixin, View):
    """The caller leaves a premise: after confirmation every enrollment there ends."""

    def get(self, request, premise_id):
        premise = self._premise(premise_id)
        return self._page(request, premise, MoveOutForm())

    def post(self, request, premise_id):
        premise = self._premise(premise_id)
        form = MoveOutForm(request.POST)
        if not form.is_valid():
            return self._page(request, premise, form)
        ended = lifecycle.move_out(premise, actor=request.user, channel=PHONE)
        messages.success(
            request,
            ngettext(
                "Moved out of %(premise)s: %(n)d enrollment ended.",
                "Moved out of %(premise)s: %(n)d enrollments ended.",
                ended,
            )
            % {"premise": premise.premise_id, "n": ended},
        )
        return _to_customer(premise.account.customer_id)

    @staticmethod
    def _premise(premise_id: str) -> Premise:
        return get_object_or_404(Premise.objects.select_related("account__customer"), premise_id=premise_id)

    @staticmethod
    def _page(request, premise, form):
        enrollments = premise.enrollments.current().select_related("pev", "plan")
        context = {"premise": premise, "form": form, "enrollments": enrollments}
        return _render(request, "move_out.html", context)


class _EnrollmentActionView(CsrRequiredMixin, View, ABC):
    """One action on one enrollment: a form, then one lifecycle function; its refusal shows on the form."""

    form_class: type
    title: str
    submit_label: str
    intro: str = ""

    def get(self, request, pk):
        enrollment = _enrollment_or_404(pk)
        return self._page(request, enrollment, self.make_form(enrollment))

    def post(self, request, pk):
        enrollment = _enrollment_or_404(pk)
        form = self.make_form(enrollment, request.POST)
        if form.is_valid():
            try:
                message = self.act(enrollment, form.cleaned_data)
            except ValidationError as exc:
                form.add_domain_errors(exc)
            else:
                messages.success(request, message)
                return _to_customer(enrollment.account.customer_id)
        return self._page(request, enrollment, form)

    def make_form(self, enrollment, data=None):
        return self.form_class(data)

    @abstractmethod
    def act(self, enrollment: Enrollment, data: dict) -> str:
        """Call the lifecycle function with the cleaned data; return the success message."""

    def _page(self, request, enrollment, form):
        return _render(
            request,
            "enrollment_action.html",
            {
                "enrollment": enrollment,
                "form": form,
                "title": self.title,
                "intro": self.intro,
                "submit_label": self.submit_label,
                "display_tz": _zone(enrollment.premise),
            },
        )


class PreferencesView(_EnrollmentActionView):
    title = gettext_lazy("Change guest charging and roaming")
    submit_label = gettext_lazy("Save preferences")
    intro = gettext_lazy("Changes apply from the vehicle's next plug-in.")

    def make_form(self, enrollment, data=None):
        return PreferencesForm(data, enrollment=enrollment)

    def act(self, enrollment, data):
        lifecycle.change_preferences(enrollment, **data, actor=self.request.user, channel=PHONE)
        return _("Preferences saved for %(vin)s.") % {"vin": enrollment.pev.vin}


class SwitchPlanView(_EnrollmentActionView):
    title = gettext_lazy("Switch plan")
    submit_label = gettext_lazy("Schedule the switch")
    intro = gettext_lazy(
        "A plan switch takes effect at midnight on the 1st of next month, so a billing period never splits. "
        "Choosing the current plan cancels a scheduled switch."
    )

    def make_form(self, enrollment, data=None):
        return SwitchPlanForm(data, enrollment=enrollment)

    def act(self, enrollment, data):
        assignment = lifecycle.switch_plan(enrollment, data["plan"], actor=self.request.user, channel=PHONE)
        if assignment.plan_id == enrollment.plan_id:
            return _("%(vin)s stays on %(plan)s.") % {"vin": enrollment.pev.vin, "plan": assignment.plan.name}
        return _("%(vin)s switches to %(plan)s from %(when)s.") % {
            "vin": enrollment.pev.vin,
            "plan": assignment.plan.name,
            "when": _local(assignment.effective_from, enrollment.premise),
        }


class ReopenCommissioningView(_EnrollmentActionView):
    title = gettext_lazy("Re-open the commissioning window")
    submit_label = gettext_lazy("Re-open the window")
    intro = gettext_lazy(
        "For a new car head unit or a lost key: the vehicle can complete the full set-up at its home premise "
        "again during the next 14 days. Any open window closes now."
    )
    form_class = ReopenCommissioningForm

    def act(self, enrollment, data):
        window = lifecycle.reopen_commissioning(
            enrollment, reason=data["reason"], actor=self.request.user, channel=PHONE
        )
        closes = _local(window.closes_at, enrollment.premise)
        return _("Commissioning window re-opened until %(when)s.") % {"when": closes}


class UnenrollView(_EnrollmentActionView):
    title = gettext_lazy("Un-enroll")
    submit_label = gettext_lazy("End this enrollment")
    intro = gettext_lazy("The enrollment ends now; the vehicle can be enrolled again later.")
    form_class = UnenrollForm

    def act(self, enrollment, data):
        lifecycle.unenroll(enrollment, reason=data["reason"], actor=self.request.user, channel=PHONE)
        return _("The enrollment of %(vin)s has ended.") % {"vin": enrollment.pev.vin}


class EnrollmentHistoryView(CsrRequiredMixin, View):
    """The enrollment's audit trail, with its account's code issues and login links, newest first."""

    def get(self, request, pk):
        enrollment = _enrollment_or_404(pk)
        return _render(
            request,
            "history.html",
            {
                "enrollment": enrollment,
                "entries": search.enrollment_history(enrollment),
                "display_tz": _zone(enrollment.premise),
            },
        )


class TransferQueueView(CsrRequiredMixin, View):
    """Vehicle sold: pending transfer requests beside the enrollment each would end."""

    def get(self, request):
        items = [
            # A distinct auto_id per form keeps the field and error ids unique on the page.
            (transfer, current, TransferDecisionForm(auto_id=f"id_transfer{transfer.pk}_%s"))
            for transfer, current in search.pending_transfers()
        ]
        return _render(request, "transfers.html", {"items": items})


class TransferDecisionView(CsrRequiredMixin, View):
    """Approve (the seller's enrollment ends, the buyer's starts) or reject a transfer with a note."""

    def get(self, request, pk):
        return self._page(request, self._transfer(pk), TransferDecisionForm())

    def post(self, request, pk):
        transfer = self._transfer(pk)
        form = TransferDecisionForm(request.POST)
        if form.is_valid():
            note = form.cleaned_data["note"]
            try:
                if form.cleaned_data["decision"] == TransferDecisionForm.APPROVE:
                    lifecycle.approve_transfer(transfer, csr=request.user, note=note)
                    message = _("Transfer of %(vin)s approved: it is now enrolled on account %(account)s.")
                else:
                    lifecycle.reject_transfer(transfer, csr=request.user, note=note)
                    message = _("Transfer of %(vin)s to account %(account)s rejected.")
            except ValidationError as exc:
                form.add_domain_errors(exc)
            else:
                messages.success(request, message % {"vin": transfer.vin, "account": transfer.account.number})
                return redirect("csr-transfers")
        return self._page(request, transfer, form)

    @staticmethod
    def _transfer(pk: int) -> TransferRequest:
        return get_object_or_404(
            TransferRequest.objects.select_related(
                "account__customer", "premise__default_tariff", "plan__program", "requested_by", "decided_by"
            ),
            pk=pk,
        )

    @staticmethod
    def _page(request, transfer, form):
        current = (
            Enrollment.objects.current()
            .filter(pev__vin=transfer.vin)
            .select_related("pev", "account__customer", "premise", "plan__program")
            .first()
        )
        return _render(request, "transfer.html", {"transfer": transfer, "current": current, "form": form})


class NotEnrolledReportView(CsrRequiredMixin, View):
    """CSR: customers and premises with no PEV enrolled (Req 5), filterable and exportable to CSV."""

    page_size = 50

    def get(self, request):
        form = NotEnrolledFilterForm(request.GET or None)
        premises = Premise.objects.not_enrolled()
        if form.is_bound and not form.is_valid():
            # A filter that cannot be applied must not widen the report (or its export) to every premise.
            premises = premises.none()
        elif form.is_valid():
            premises = premises.matching(**form.cleaned_data)
        if request.GET.get("format") == "csv":
            if form.is_bound and not form.is_valid():
                return HttpResponseBadRequest(
                    "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
                )
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
