from django.urls import path

from enrollment import views

urlpatterns = [
    path("", views.ProgramListView.as_view(), name="home"),
    path("programs/", views.ProgramListView.as_view(), name="program-list"),
    path("programs/compare/", views.compare_plans, name="plan-compare"),
    path("programs/<slug:code>/", views.ProgramDetailView.as_view(), name="program-detail"),
    path("csr/reports/not-enrolled/", views.NotEnrolledReportView.as_view(), name="csr-not-enrolled"),
]
