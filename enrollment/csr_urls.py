from django.urls import path

from enrollment.views import csr

urlpatterns = [
    path("reports/not-enrolled/", csr.NotEnrolledReportView.as_view(), name="csr-not-enrolled"),
]
