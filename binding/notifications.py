"""Telling customers what binding did: a guest charged at a premise (host and guest both hear of it)."""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from enrollment.models import UtilityAccount

from .models import Binding


def guest_session_bound(binding: Binding) -> None:
    """Queue the guest-session emails once the binding is committed."""
    from . import tasks

    binding_id = str(binding.pk)
    # robust: with the broker down the binding still answers; the failure is logged, the emails are lost.
    transaction.on_commit(lambda: tasks.notify_guest_session.delay(binding_id), robust=True)


def send_guest_session_emails(binding_id: str) -> None:
    binding = (
        Binding.objects.select_related(
            "premise__account", "enrollment__account", "enrollment__pev", "billed_enrollment__account"
        )
        .filter(pk=binding_id, kind=Binding.Kind.GUEST)
        .first()
    )
    if binding is None:
        return
    context = {
        "binding": binding,
        "vehicle": binding.enrollment.pev.description,
        "address": binding.premise.service_address,
        "billed_to_host": binding.billed_enrollment.account_id == binding.premise.account_id,
        "phone": settings.PORTAL_PHONE,
    }
    for account, role in ((binding.premise.account, "host"), (binding.enrollment.account, "guest")):
        recipients = _recipients(account)
        if recipients:
            send_mail(
                subject=_("A guest vehicle is charging at your home")
                if role == "host"
                else _("Your vehicle is charging as a guest"),
                message=render_to_string(f"binding/email/guest_session_{role}.txt", context),
                from_email=None,
                recipient_list=recipients,
            )


def _recipients(account: UtilityAccount) -> list[str]:
    emails = {link.user.email for link in account.links.select_related("user") if link.user.email}
    if account.customer.email:
        emails.add(account.customer.email)
    return sorted(emails)
