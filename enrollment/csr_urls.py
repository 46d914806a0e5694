"""The CSR screens, mounted at /csr/; every view requires the CSR role."""

from django.urls import path

from enrollment.views import csr

urlpatterns = [
    path("", csr.CustomerSearchView.as_view(), name="csr-search"),
    path("customers/<int:pk>/", csr.CustomerView.as_view(), name="csr-customer"),
    path("customers/<int:pk>/view-as/", csr.ViewAsCustomerView.as_view(), name="csr-view-as"),
    path("accounts/<str:number>/", csr.CustomerView.as_view(), name="csr-account"),
    path("accounts/<str:number>/enroll/", csr.PhoneEnrollmentView.as_view(), name="csr-enroll"),
    path("accounts/<str:number>/code/", csr.IssueCodeView.as_view(), name="csr-issue-code"),
    path("premises/<str:premise_id>/move-out/", csr.MoveOutView.as_view(), name="csr-move-out"),
    path("enrollments/<int:pk>/preferences/", csr.PreferencesView.as_view(), name="csr-preferences"),
    path("enrollments/<int:pk>/plan/", csr.SwitchPlanView.as_view(), name="csr-switch-plan"),
    path(
        "enrollments/<int:pk>/commissioning/",
        csr.ReopenCommissioningView.as_view(),
        name="csr-reopen-commissioning",
    ),
    path("enrollments/<int:pk>/unenroll/", csr.UnenrollView.as_view(), name="csr-unenroll"),
    path("enrollments/<int:pk>/history/", csr.EnrollmentHistoryView.as_view(), name="csr-history"),
    path("transfers/", csr.TransferQueueView.as_view(), name="csr-transfers"),
    path("transfers/<int:pk>/", csr.TransferDecisionView.as_view(), name="csr-transfer"),
    path("reports/not-enrolled/", csr.NotEnrolledReportView.as_view(), name="csr-not-enrolled"),
]
