"""Which kind of device may call an endpoint: the ESCI for bindings, ends and messages, the EUMD for its ack
and readings (Req 9). A request signed by the wrong kind is refused with 403."""

from rest_framework.permissions import BasePermission

from binding.models import Device, DeviceKind


class IsDevice(BasePermission):
    """Any registered device whose signature verified (`DeviceSignatureAuthentication`)."""

    message = "This endpoint takes requests signed by a registered device."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Device)


class _IsDeviceKind(IsDevice):
    kind: str

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        device = request.auth
        if device.kind != self.kind:
            self.message = (
                f"This endpoint takes requests signed by an {DeviceKind(self.kind).label}; "
                f"device {device.lfdi} is an {device.get_kind_display()}."
            )
            return False
        return True


class IsEsci(_IsDeviceKind):
    kind = DeviceKind.ESCI


class IsEumd(_IsDeviceKind):
    kind = DeviceKind.EUMD
