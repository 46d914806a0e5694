"""Staff roles. A customer service representative (CSR) is a user in the CSR group, which carries the
`pevportal.csr_access` permission; CSR views require it, so a customer can never reach them."""

from django.contrib.auth.mixins import PermissionRequiredMixin

CSR_GROUP = "CSR"
CSR_PERMISSION = "pevportal.csr_access"


class CsrRequiredMixin(PermissionRequiredMixin):
    """Anonymous users are sent to log in; signed-in users without the role get 403."""

    permission_required = CSR_PERMISSION
    raise_exception = False

    def handle_no_permission(self):
        self.raise_exception = self.request.user.is_authenticated
        return super().handle_no_permission()


def is_csr(user) -> bool:
    return user.is_authenticated and user.has_perm(CSR_PERMISSION)
