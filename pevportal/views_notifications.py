"""The customer's notifications (/my/notifications/): newest first, a page at a time, and "mark all as read".

Rows are looked up through `Notification.objects.for_user`: a customer only ever sees their linked accounts'
notifications. The dashboard shows the latest few with `pevportal.notifications.dashboard_notifications`.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from pevportal import notifications
from pevportal.models import Notification

PAGE_SIZE = 20


@login_required
def notification_list(request):
    """One page of the customer's notifications, rendered in the active language; three queries."""
    visible = Notification.objects.for_user(request.user).order_by("-created_at", "-pk")
    page = Paginator(visible, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "pevportal/notifications.html",
        {
            "page": page,
            "notifications": notifications.shown(page.object_list),
            "unread_count": notifications.unread_count(request.user),
        },
    )


@login_required
@require_POST
def mark_all_read(request):
    marked = notifications.mark_all_read(request.user)
    messages.success(
        request,
        ngettext("%(count)d notification marked as read.", "%(count)d notifications marked as read.", marked)
        % {"count": marked},
    )
    return redirect("my-notifications")
