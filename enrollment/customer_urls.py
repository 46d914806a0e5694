"""The customer's pages, mounted at /my/."""

from django.urls import path

from enrollment.views import customer

urlpatterns = [
    path("", customer.dashboard, name="my-enrollments"),
    path("enroll/", customer.wizard_resume, name="wizard"),
    path("enroll/account/", customer.AccountStepView.as_view(), name="wizard-account"),
    path("enroll/premise/", customer.PremiseStepView.as_view(), name="wizard-premise"),
    path("enroll/vehicle/", customer.VehicleStepView.as_view(), name="wizard-vehicle"),
    path("enroll/vehicle/transfer/", customer.TransferStepView.as_view(), name="wizard-transfer"),
    path("enroll/plan/", customer.PlanStepView.as_view(), name="wizard-plan"),
    path("enroll/preferences/", customer.PreferencesStepView.as_view(), name="wizard-preferences"),
    path("enroll/review/", customer.ReviewStepView.as_view(), name="wizard-review"),
    path("enroll/discard/", customer.wizard_discard, name="wizard-discard"),
    path("transfers/<int:pk>/", customer.transfer_requested, name="transfer-requested"),
    path("enrollments/<int:pk>/", customer.enrollment_detail, name="enrollment-detail"),
    path("enrollments/<int:pk>/enrolled/", customer.enrollment_confirmation, name="enrollment-confirmation"),
    path(
        "enrollments/<int:pk>/preferences/", customer.PreferencesView.as_view(), name="enrollment-preferences"
    ),
    path("enrollments/<int:pk>/plan/", customer.SwitchPlanView.as_view(), name="enrollment-switch-plan"),
    path(
        "enrollments/<int:pk>/commissioning/",
        customer.ReopenCommissioningView.as_view(),
        name="enrollment-reopen-commissioning",
    ),
    path("enrollments/<int:pk>/unenroll/", customer.UnenrollView.as_view(), name="enrollment-unenroll"),
]

# Green Button Download My Data (issue 7; metering/views/greenbutton.py).
from metering.views.greenbutton import green_button_download  # noqa: E402

urlpatterns += [
    path("usage/green-button.xml", green_button_download, name="my-green-button"),
]

# Usage, charging sessions and bills (issue 7; metering/customer_urls.py, billing/customer_urls.py).
from django.urls import include  # noqa: E402

urlpatterns += [
    path("", include("metering.customer_urls")),
    path("bills/", include("billing.customer_urls")),
]

# Notifications (issue 7; pevportal/views_notifications.py).
from pevportal import views_notifications  # noqa: E402

urlpatterns += [
    path("notifications/", views_notifications.notification_list, name="my-notifications"),
    path("notifications/read/", views_notifications.mark_all_read, name="my-notifications-read"),
]
