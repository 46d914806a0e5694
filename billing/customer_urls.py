"""The customer's bills, mounted at /my/bills/ (issue 7)."""

from django.urls import path

from billing.views import customer

urlpatterns = [
    path("", customer.bill_list, name="my-bills"),
    path("<int:pk>/", customer.bill_detail, name="my-bill"),
    path("<int:pk>/print/", customer.bill_print, name="my-bill-print"),
]
