"""The back office's URLs plus ``/bench/integration-ok/``, the baseline of bench/integration.py.

The baseline is the least an integration API request can cost: a DRF view with the integration
API's authentication (a service account's key) and permission, answering ``{"ok": true}`` to a
POST without reading its body.
"""

from django.urls import path
from rest_framework.response import Response

from backoffice.urls import urlpatterns as backoffice_urlpatterns
from sellers.integration.views import IntegrationView


class OkView(IntegrationView):
    def post(self, request):
        return Response({"ok": True})


urlpatterns = [path("bench/integration-ok/", OkView.as_view(), name="bench-integration-ok"), *backoffice_urlpatterns]
