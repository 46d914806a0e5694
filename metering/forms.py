"""Forms of the CSR metering review queues: they validate what the CSR chose or typed; review acts."""

from django import forms
from django.utils.translation import gettext_lazy as _

from metering.models import LoadCorrelation, ReadRevision
from metering.review import NOTE_MAX_LENGTH


class RevisionFilterForm(forms.Form):
    """Filters of the open-revisions queue; `filter` applies the valid ones."""

    reason = forms.ChoiceField(
        label=_("Reason"), required=False, choices=[("", _("Any")), *ReadRevision.Reason.choices]
    )

    def filter(self, revisions):
        if self.cleaned_data["reason"]:
            revisions = revisions.filter(reason=self.cleaned_data["reason"])
        return revisions


class CorrelationFilterForm(forms.Form):
    """Which uncleared results the correlation queue lists: fails (the default), warnings, or both."""

    FAIL, WARN, BOTH = LoadCorrelation.Result.FAIL, LoadCorrelation.Result.WARN, "any"

    result = forms.ChoiceField(
        label=_("Result"),
        required=False,
        choices=[(FAIL, _("Fail")), (WARN, _("Warn")), (BOTH, _("Fail or warn"))],
    )

    def filter(self, correlations):
        wanted = self.cleaned_data["result"] or self.FAIL
        results = [self.FAIL, self.WARN] if wanted == self.BOTH else [wanted]
        return correlations.filter(result__in=results)


class NoteForm(forms.Form):
    """The note every review decision carries (why the CSR decided so)."""

    note = forms.CharField(
        label=_("Note"),
        max_length=NOTE_MAX_LENGTH,
        help_text=_("Why: e.g. the meter was replaced, the head-end re-sent corrected data."),
    )
