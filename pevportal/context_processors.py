from django.conf import settings

from pevportal.roles import is_csr


def portal(request) -> dict:
    """Names every page shows (utility, phone line) and whether to show the CSR navigation."""
    return {
        "utility_name": settings.PORTAL_UTILITY_NAME,
        "utility_phone": settings.PORTAL_PHONE,
        "show_csr_nav": is_csr(request.user),
    }
