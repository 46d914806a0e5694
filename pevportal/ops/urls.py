"""Mounted at /ops/ by pevportal/urls.py."""

from django.urls import path

from pevportal.ops import views

urlpatterns = [
    path("", views.OperationsView.as_view(), name="ops"),
    path("figures/", views.FiguresView.as_view(), name="ops-figures"),
]
