"""CSR screens for devices and the binding log, mounted at /csr/; every view requires the CSR role."""

from django.urls import path

from binding.views import csr

urlpatterns = [
    path("devices/", csr.DeviceListView.as_view(), name="csr-devices"),
    path("devices/<str:lfdi>/", csr.DeviceView.as_view(), name="csr-device"),
    path("devices/<str:lfdi>/disable/", csr.DisableDeviceView.as_view(), name="csr-device-disable"),
    path("devices/<str:lfdi>/swap/", csr.SwapDeviceView.as_view(), name="csr-device-swap"),
    path("devices/<str:lfdi>/interval/", csr.IntervalChangeView.as_view(), name="csr-device-interval"),
    path("bindings/", csr.BindingSearchView.as_view(), name="csr-bindings"),
    path("bindings/<uuid:pk>/", csr.BindingView.as_view(), name="csr-binding"),
]
