"""Staff roles. A customer service representative (CSR) is a user in the CSR group, which carries the
`pevportal.csr_access` permission; CSR views require it, so a customer can never reach them."""

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.contrib.auth.models import Permission
from django.db.models import Q

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
    """Whether to show the CSR navigation: asked on every page, so one query, not the two of loading all
    the user's permissions (ModelBackend). CSR views still check the permission itself."""
    if not (user.is_authenticated and user.is_active):
        return False
    if user.is_superuser:
        return True
    if hasattr(user, "_perm_cache"):  # a CSR view already loaded them (ModelBackend's cache): no query
        return user.has_perm(CSR_PERMISSION)
    app_label, codename = CSR_PERMISSION.split(".")
    return (
        Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        .filter(Q(user=user) | Q(group__user=user))
        .exists()
    )
