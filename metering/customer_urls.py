"""The customer's usage and charging sessions, mounted under /my/ (issue 7)."""

from django.urls import path

from metering.views import usage

urlpatterns = [
    path("usage/", usage.usage_page, name="my-usage"),
    path("sessions/", usage.sessions_page, name="my-sessions"),
]
