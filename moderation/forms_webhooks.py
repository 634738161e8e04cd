"""The forms of the webhook pages: what an admin types, checked before any service runs.

The services check again (the address, the reason, the range): a form's job is the field-level message.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from backoffice.text import VisibleTextFormMixin
from moderation.forms import BoundedDateTimeField, LocalDateTimeInput
from moderation.models import WebhookDelivery
from sellers.models import Marketplace

URL_MAX_LENGTH = 500


class EndpointForm(VisibleTextFormMixin, forms.Form):
    marketplace = forms.ModelChoiceField(
        queryset=Marketplace.objects.none(), empty_label=_("Choose the marketplace…"), label=_("Marketplace")
    )
    url = forms.CharField(
        max_length=URL_MAX_LENGTH,
        label=_("Address"),
        help_text=_("The marketplace's HTTPS address that receives the events (a POST of JSON, signed)."),
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
    )

    def __init__(self, *args, marketplaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["marketplace"].queryset = marketplaces


class EndpointUrlForm(VisibleTextFormMixin, forms.Form):
    url = forms.CharField(max_length=URL_MAX_LENGTH, label=_("New address"), widget=forms.URLInput())


class DisableEndpointForm(VisibleTextFormMixin, forms.Form):
    reason = forms.CharField(
        max_length=2000,
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("Why nothing is sent to it for now.")}),
    )


class ReplayRangeForm(forms.Form):
    """Times in UTC, as the deliveries' table shows them."""

    start = BoundedDateTimeField(widget=LocalDateTimeInput(), label=_("From (UTC)"))
    end = BoundedDateTimeField(widget=LocalDateTimeInput(), label=_("Until (UTC)"))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start >= end:
            self.add_error("end", _("The end must come after the start."))
        return cleaned


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", _("Any status")), *WebhookDelivery.Status.choices], required=False, label=_("Status")
    )
