"""CSR review queues of metering, mounted at /csr/metering/; every view requires the CSR role."""

from django.urls import path

from metering.views import csr

urlpatterns = [
    path("revisions/", csr.RevisionQueueView.as_view(), name="csr-metering-revisions"),
    path("revisions/<int:pk>/apply/", csr.ApplyRevisionView.as_view(), name="csr-metering-revision-apply"),
    path(
        "revisions/<int:pk>/dismiss/", csr.DismissRevisionView.as_view(), name="csr-metering-revision-dismiss"
    ),
    path("correlations/", csr.CorrelationQueueView.as_view(), name="csr-metering-correlations"),
    path("correlations/<uuid:binding_id>/", csr.CorrelationView.as_view(), name="csr-metering-correlation"),
    path(
        "correlations/<uuid:binding_id>/clear/",
        csr.ClearCorrelationView.as_view(),
        name="csr-metering-correlation-clear",
    ),
]
