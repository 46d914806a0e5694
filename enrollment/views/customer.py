"""The customer's pages under /my/: the dashboard, the enrollment wizard and, afterwards, an enrollment's
detail page with its preference, plan, commissioning and un-enroll actions (scenario 1 steps 1–4).

Every page requires sign-in; every enrollment is looked up through `Enrollment.objects.for_user`, so
another customer's enrollment is a 404. Views validate, then call one domain function.
"""

import zoneinfo
from abc import ABC, abstractmethod

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.http import require_POST

from billing.presentation import tariff_cards
from binding import live
from enrollment import lifecycle, linking, wizard
from enrollment.enrolling import VIN_ENROLLED, check_vin
from enrollment.forms.customer import (
    ChooseAccountForm,
    EnrollmentCodeForm,
    LinkAccountForm,
    PlanForm,
    PreferencesForm,
    PremiseForm,
    ReopenCommissioningForm,
    SwitchPlanForm,
    UnenrollForm,
    VehicleForm,
)
from enrollment.models import (
    Enrollment,
    EnrollmentChannel,
    EnrollmentDraft,
    GuestCharging,
    Premise,
    TransferRequest,
    UtilityAccount,
)
from enrollment.vin import normalize_vin
from metering.usage import dashboard_summary
from pevportal.models import AuditRecord
from pevportal.notifications import dashboard_notifications

STEP_TITLES = {
    wizard.ACCOUNT: gettext_lazy("Link your utility account"),
    wizard.PREMISE: gettext_lazy("Choose where your vehicle charges"),
    wizard.VEHICLE: gettext_lazy("Register your vehicle"),
    wizard.PLAN: gettext_lazy("Choose a plan"),
    wizard.PREFERENCES: gettext_lazy("Guests and roaming"),
    wizard.REVIEW: gettext_lazy("Review and confirm"),
}
HISTORY_LABELS = {
    "enrollment.created": gettext_lazy("Enrolled"),
    "enrollment.preferences_changed": gettext_lazy("Guest and roaming preferences changed"),
    "enrollment.plan_switch_scheduled": gettext_lazy("Plan switch scheduled"),
    "enrollment.plan_switched": gettext_lazy("Plan changed"),
    "enrollment.commissioning_reopened": gettext_lazy("Set-up window re-opened"),
    "enrollment.ended": gettext_lazy("Enrollment ended"),
}
WEB = EnrollmentChannel.WEB


def _local_zone(premise: Premise) -> zoneinfo.ZoneInfo:
    """Times are shown in the premise's local time: the time zone its tariff's periods are defined in."""
    return premise.default_tariff.zone


def _add_errors(form, exc: ValidationError) -> None:
    """Show a domain function's ValidationError on the form: next to its field where the form has one."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)


# --- Dashboard ------------------------------------------------------------------------------------


@login_required
def dashboard(request):
    """The customer's linked accounts with their premises, each vehicle with its enrollment and latest
    charging session, the live charging panel (updated over /ws/live/ by static/js/live.js), transfer
    requests and any wizard in progress; a fixed number of queries however many there are."""
    user = request.user
    now = timezone.now()
    accounts = _accounts_with_premises(user)
    enrollments = live.with_latest_binding(
        Enrollment.objects.for_user(user)
        .select_related("pev", "premise__default_tariff", "plan__program")
        .order_by("-created_at")
    )
    for enrollment in enrollments:
        enrollment.latest_session = live.latest_session_text(enrollment, now=now)
    panels = [(panel, live.display(panel)) for panel in live.live_panels(accounts, now=now)]
    transfers = TransferRequest.objects.filter(
        account__in=UtilityAccount.objects.for_user(user), status=TransferRequest.Status.PENDING
    ).select_related("premise")
    return render(
        request,
        "enrollment/customer/dashboard.html",
        {
            "accounts": accounts,
            "enrollments": enrollments,
            "live_panels": panels,
            "live_labels": live.client_labels(),
            "transfers": transfers,
            "draft": EnrollmentDraft.objects.for_user(user).first(),
            # A queryset on purpose: the summary uses it as a subquery, at no query of its own.
            "usage_summary": dashboard_summary(UtilityAccount.objects.for_user(user), now=now),
            "notifications": dashboard_notifications(user),
        },
    )


def _accounts_with_premises(user) -> list[UtilityAccount]:
    """The user's linked accounts, each with `premise_list`, in one query (the dashboard counts them). An
    account is linked through one of its premises (BR.1), so none is left out for having none."""
    premises = Premise.objects.for_user(user).select_related("account")
    accounts: dict[int, UtilityAccount] = {}
    for premise in premises.order_by("account__number", "premise_id"):
        account = accounts.setdefault(premise.account_id, premise.account)
        account.__dict__.setdefault("premise_list", []).append(premise)
    return list(accounts.values())


# --- The wizard -----------------------------------------------------------------------------------


@login_required
def wizard_resume(request):
    """Start the wizard, or resume it at the step the customer left off."""
    state = wizard.progress(wizard.draft_for(request.user))
    return redirect(f"wizard-{state.resume_step}")


@login_required
@require_POST
def wizard_discard(request):
    draft = EnrollmentDraft.objects.for_user(request.user).first()
    if draft is not None:
        wizard.discard(draft)
    messages.info(request, _("Your enrollment in progress was discarded."))
    return redirect("my-enrollments")


class WizardStepView(LoginRequiredMixin, View):
    """One step of the wizard: shown or posted only when every step before it is complete; a request
    for a later step goes to the first incomplete one instead."""

    step: str
    template_name: str

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.state = wizard.progress(wizard.draft_for(request.user))
        if not self.state.reachable(self.step):
            return redirect(f"wizard-{self.state.first_incomplete}")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return self.render(**self.forms())

    def post(self, request):
        context = self.forms(request.POST)
        if context["form"].is_valid():
            return self.form_valid(context["form"])
        return self.render(**context)

    # Steps with one form implement these two; the review step overrides get/post instead.
    def forms(self, data=None) -> dict:
        """The step's template context: its form under "form", bound to `data` when posted."""
        raise NotImplementedError

    def form_valid(self, form):
        """Save the step's answer in the draft (or finish) and redirect."""
        raise NotImplementedError

    def save(self, **values):
        return redirect(f"wizard-{wizard.save_step(self.state.draft, self.step, **values)}")

    def render(self, **context):
        steps = [
            {
                "name": step,
                "title": STEP_TITLES[step],
                "url": reverse(f"wizard-{step}") if self.state.reachable(step) else "",
                "current": step == self.step,
            }
            for step in wizard.STEPS
        ]
        return render(
            self.request,
            self.template_name,
            {
                "state": self.state,
                "step": self.step,
                "step_title": STEP_TITLES[self.step],
                "step_number": wizard.step_number(self.step),
                "total_steps": wizard.TOTAL_STEPS,
                "steps": steps,
                **context,
            },
        )


class AccountStepView(WizardStepView):
    """Step 2: choose a linked account, or link one by bill details or by a one-time code."""

    step = wizard.ACCOUNT
    template_name = "enrollment/customer/wizard/account.html"
    actions = {"choose": ChooseAccountForm, "link": LinkAccountForm, "code": EnrollmentCodeForm}

    def forms(self, data=None) -> dict:
        """One form per way of choosing the account; only the one whose button was pressed is bound."""
        action = data.get("action") if data is not None else None
        kwargs = {
            "choose": {"user": self.request.user, "initial": {"account": self.state.account}},
            "link": {},
            "code": {},
        }
        return {
            name: form_class(data if name == action else None, **kwargs[name])
            for name, form_class in self.actions.items()
        }

    def post(self, request):
        forms = self.forms(request.POST)
        form = forms.get(request.POST.get("action"))
        if form is None:
            return self.render(**forms)
        if form.is_valid():
            try:
                return self.form_valid(form)
            except linking.LinkRefused as refused:
                # Never which detail was wrong: LinkRefused.message is the same for all of them.
                form.add_error(None, refused.message)
        return self.render(**forms)

    def form_valid(self, form):
        if isinstance(form, ChooseAccountForm):
            account = form.cleaned_data["account"]
        elif isinstance(form, LinkAccountForm):
            account = linking.link_account(self.request.user, **form.cleaned_data).account
        else:
            account = linking.redeem_code(self.request.user, form.cleaned_data["code"]).account
        return self.save(account_id=account.pk)

    def render(self, **forms):
        has_accounts = forms["choose"].fields["account"].queryset.exists()
        return super().render(**forms, has_accounts=has_accounts)


class PremiseStepView(WizardStepView):
    """Step 3: the premise where the vehicle charges, among the chosen account's premises."""

    step = wizard.PREMISE
    template_name = "enrollment/customer/wizard/premise.html"

    def forms(self, data=None) -> dict:
        form = PremiseForm(
            data, user=self.request.user, account=self.state.account, initial={"premise": self.state.premise}
        )
        return {"form": form}

    def form_valid(self, form):
        return self.save(premise_id=form.cleaned_data["premise"].pk)


class VehicleStepView(WizardStepView):
    """Step 4: the VIN, validated as typed; an enrolled VIN is refused with the transfer path offered."""

    step = wizard.VEHICLE
    template_name = "enrollment/customer/wizard/vehicle.html"

    def forms(self, data=None) -> dict:
        return {"form": VehicleForm(data, initial={"vin": self.state.vin})}

    def form_valid(self, form):
        return self.save(vin=form.cleaned_data["vin"], transfer=False)


class TransferStepView(WizardStepView):
    """Step 4, vehicle sold: keep an enrolled VIN in the draft as a transfer request for a CSR to decide."""

    step = wizard.VEHICLE
    template_name = "enrollment/customer/wizard/transfer.html"

    def get(self, request):
        vin = _enrolled_vin(request.GET.get("vin", ""))
        return self.render(vin=vin) if vin else redirect("wizard-vehicle")

    def post(self, request):
        vin = _enrolled_vin(request.POST.get("vin", ""))
        return self.save(vin=vin, transfer=True) if vin else redirect("wizard-vehicle")


def _enrolled_vin(typed: str) -> str:
    """The VIN if it is valid and enrolled (the only case a transfer applies to), else ""."""
    try:
        check_vin(typed)
    except ValidationError as exc:
        return normalize_vin(typed) if exc.code == VIN_ENROLLED else ""
    return ""


class PlanStepView(WizardStepView):
    """Step 5: the programmes' plans offered at the premise, each with its tariff's grid and prices."""

    step = wizard.PLAN
    template_name = "enrollment/customer/wizard/plan.html"

    def forms(self, data=None) -> dict:
        form = PlanForm(data, premise=self.state.premise)
        today = timezone.localdate(timezone=_local_zone(self.state.premise))
        plans = list(form.fields["plan"].queryset)
        cards = tariff_cards([plan.tariff for plan in plans], on=today)
        return {"form": form, "plans": list(zip(plans, cards, strict=True))}

    def form_valid(self, form):
        return self.save(plan_id=form.cleaned_data["plan"].pk)


class PreferencesStepView(WizardStepView):
    """Step 6: guest charging with an optional guest allow-list, and roaming."""

    step = wizard.PREFERENCES
    template_name = "enrollment/customer/wizard/preferences.html"

    def forms(self, data=None) -> dict:
        state = self.state
        initial = PreferencesForm.initial_for(state.guest_charging, state.guest_vins, state.allow_roaming)
        return {"form": PreferencesForm(data, own_vin=state.vin, initial=initial)}

    def form_valid(self, form):
        return self.save(**form.cleaned_data)


class ReviewStepView(WizardStepView):
    """Step 7: everything chosen, and the button that enrolls (or requests the transfer)."""

    step = wizard.REVIEW
    template_name = "enrollment/customer/wizard/review.html"

    def get(self, request):
        return self.render(errors=[])

    def render(self, **context):
        label = GuestCharging(self.state.guest_charging).label
        return super().render(guest_charging_label=label, **context)

    def post(self, request):
        try:
            result = wizard.complete(self.state.draft)
        except ValidationError as exc:
            # Someone enrolled the VIN since step 4: offer the transfer path here too.
            vin_errors = getattr(exc, "error_dict", {}).get("vin", [])
            enrolled_vin = self.state.vin if any(e.code == VIN_ENROLLED for e in vin_errors) else ""
            return self.render(errors=exc.messages, enrolled_vin=enrolled_vin)
        if isinstance(result, TransferRequest):
            return redirect("transfer-requested", pk=result.pk)
        return redirect("enrollment-confirmation", pk=result.pk)


@login_required
def enrollment_confirmation(request, pk):
    """After the wizard: what happens next — plug in at home before the commissioning window closes."""
    enrollment = get_object_or_404(
        Enrollment.objects.for_user(request.user).select_related(
            "pev", "premise__default_tariff", "plan__program"
        ),
        pk=pk,
    )
    return render(
        request,
        "enrollment/customer/confirmation.html",
        {
            "enrollment": enrollment,
            "window": enrollment.commissioning_windows.first(),
            "display_time_zone": _local_zone(enrollment.premise),
        },
    )


@login_required
def transfer_requested(request, pk):
    transfer = get_object_or_404(
        TransferRequest.objects.filter(
            account__in=UtilityAccount.objects.for_user(request.user)
        ).select_related("premise", "plan__program"),
        pk=pk,
    )
    return render(request, "enrollment/customer/transfer_requested.html", {"transfer": transfer})


# --- After enrolling ------------------------------------------------------------------------------


def _enrollment_for(request, pk) -> Enrollment:
    return get_object_or_404(
        Enrollment.objects.for_user(request.user).select_related(
            "pev", "premise__default_tariff", "account", "plan__program", "plan__tariff"
        ),
        pk=pk,
    )


def _history(enrollment: Enrollment) -> list[dict]:
    records = AuditRecord.objects.filter(
        target_type=ContentType.objects.get_for_model(Enrollment), target_id=str(enrollment.pk)
    ).order_by("-at", "-pk")
    return [
        {
            "at": record.at,
            "label": HISTORY_LABELS.get(record.action, gettext_lazy("Updated")),
            "channel": record.get_channel_display(),
        }
        for record in records
    ]


@login_required
def enrollment_detail(request, pk):
    """Status, plan (and any scheduled switch), commissioning windows and history, with the actions."""
    enrollment = _enrollment_for(request, pk)
    now = timezone.now()
    windows = list(enrollment.commissioning_windows.all())
    return render(
        request,
        "enrollment/customer/detail.html",
        {
            "enrollment": enrollment,
            "windows": windows,
            "open_window": next((w for w in windows if w.opens_at <= now < w.closes_at), None),
            "scheduled": enrollment.plan_assignments.filter(effective_from__gt=now)
            .select_related("plan")
            .first(),
            "history": _history(enrollment),
            "display_time_zone": _local_zone(enrollment.premise),
        },
    )


class EnrollmentActionView(LoginRequiredMixin, View, ABC):
    """A form acting on one of the customer's current enrollments; an ended one shows its detail page."""

    template_name: str
    form_class: type

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.enrollment = _enrollment_for(request, kwargs["pk"])
        if not self.enrollment.is_current:
            messages.info(request, _("This enrollment has ended."))
            return redirect("enrollment-detail", pk=self.enrollment.pk)
        return super().dispatch(request, *args, **kwargs)

    def get_form(self, data=None):
        return self.form_class(data)

    def get(self, request, pk):
        return self.render(self.get_form())

    def post(self, request, pk):
        form = self.get_form(request.POST)
        if form.is_valid():
            try:
                self.act(form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                return redirect("enrollment-detail", pk=self.enrollment.pk)
        return self.render(form)

    @abstractmethod
    def act(self, data: dict) -> None:
        """Call the lifecycle function with the cleaned data; raise ValidationError to show errors."""

    def context(self) -> dict:
        return {}

    def render(self, form):
        return render(
            self.request,
            self.template_name,
            {
                "enrollment": self.enrollment,
                "form": form,
                "display_time_zone": _local_zone(self.enrollment.premise),
                **self.context(),
            },
        )


class PreferencesView(EnrollmentActionView):
    template_name = "enrollment/customer/preferences.html"
    form_class = PreferencesForm

    def get_form(self, data=None):
        enrollment = self.enrollment
        initial = PreferencesForm.initial_for(
            enrollment.guest_charging, enrollment.guest_vins, enrollment.allow_roaming
        )
        return PreferencesForm(data, own_vin=enrollment.pev.vin, initial=initial)

    def act(self, data):
        lifecycle.change_preferences(self.enrollment, **data, actor=self.request.user, channel=WEB)
        messages.success(self.request, _("Your preferences are saved; they apply from the next plug-in."))


class SwitchPlanView(EnrollmentActionView):
    template_name = "enrollment/customer/switch_plan.html"
    form_class = SwitchPlanForm

    def get_form(self, data=None):
        return SwitchPlanForm(data, premise=self.enrollment.premise, initial={"plan": self.enrollment.plan})

    def context(self):
        plan = self.enrollment.plan
        starts = lifecycle.first_of_next_month(plan, timezone.now())
        # A date, not a datetime: the template would show a datetime in UTC, not in the tariff's zone.
        return {"starts_on": starts.astimezone(plan.tariff.zone).date(), "tariff_zone": plan.tariff.time_zone}

    def act(self, data):
        assignment = lifecycle.switch_plan(
            self.enrollment, data["plan"], actor=self.request.user, channel=WEB
        )
        if assignment.effective_from > timezone.now():
            starts_on = assignment.effective_from.astimezone(assignment.plan.tariff.zone)
            message = _("You are on %(plan)s from %(date)s.") % {
                "plan": assignment.plan.name,
                "date": date_format(starts_on, "F j, Y"),
            }
        else:
            message = _("You stay on %(plan)s; no switch is scheduled.") % {"plan": assignment.plan.name}
        messages.success(self.request, message)


class ReopenCommissioningView(EnrollmentActionView):
    template_name = "enrollment/customer/reopen_commissioning.html"
    form_class = ReopenCommissioningForm

    def act(self, data):
        window = lifecycle.reopen_commissioning(
            self.enrollment, reason=data["reason"], actor=self.request.user, channel=WEB
        )
        closes = timezone.localtime(window.closes_at, _local_zone(self.enrollment.premise))
        messages.success(
            self.request,
            _("Plug your vehicle in at home before %(date)s to set it up again.")
            % {"date": date_format(closes, "F j, Y, g:i A T")},
        )


class UnenrollView(EnrollmentActionView):
    template_name = "enrollment/customer/unenroll.html"
    form_class = UnenrollForm

    def act(self, data):
        lifecycle.unenroll(
            self.enrollment,
            reason=data["reason"] or "un-enrolled by the customer",
            actor=self.request.user,
            channel=WEB,
        )
        messages.success(self.request, _("Your vehicle is no longer enrolled."))
