"""The back office's URLs plus ``/bench/ok/``, the baseline of bench/api.py.

The baseline is the least a sellers' API request can cost: a DRF view with the default
authentication (the token first) and permission (IsAuthenticated) classes, answering
``{"ok": true}`` without reading anything else.
"""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.urls import urlpatterns as backoffice_urlpatterns


class OkView(APIView):
    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("bench/ok/", OkView.as_view(), name="bench-ok"), *backoffice_urlpatterns]
