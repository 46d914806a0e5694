"""The customer's Green Button download (Download My Data, issue 7; Req 24): `/my/usage/green-button.xml`.

Validates the premise and the days, then streams `metering.greenbutton.green_button_feed` as an attachment.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from enrollment.models import Premise
from metering.greenbutton import GreenButtonRangeError, feed_filename, green_button_feed, parse_range


@login_required
@require_GET
def green_button_download(request):
    """`?start=YYYY-MM-DD&end=YYYY-MM-DD` (local days, inclusive; at most 13 months) and, for a customer
    with several premises, `&premise=<premise ID>`. Only the signed-in customer's premises are found."""
    premises = Premise.objects.for_user(request.user).select_related("default_tariff", "account")
    wanted = request.GET.get("premise")
    if wanted:
        premise = premises.filter(premise_id=wanted).first()
    else:
        found = list(premises[:2])
        if len(found) > 1:
            return _bad_request(_("You have several premises: choose one with premise=<premise ID>."))
        premise = found[0] if found else None
    if premise is None:
        raise Http404(_("No such premise on your accounts."))
    try:
        first, last = parse_range(
            request.GET.get("start"),
            request.GET.get("end"),
            today=timezone.now().astimezone(premise.default_tariff.zone).date(),
        )
    except GreenButtonRangeError as error:
        return _bad_request(str(error))
    response = StreamingHttpResponse(
        green_button_feed(premise, first, last, now=timezone.now()), content_type="application/atom+xml"
    )
    response["Content-Disposition"] = f'attachment; filename="{feed_filename(premise, first, last)}"'
    return response


def _bad_request(message: str) -> HttpResponseBadRequest:
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
