"""Request hygiene the framework leaves to us."""

from __future__ import annotations

import re

from django.core.exceptions import BadRequest

# What PostgreSQL cannot hold in a text value: a NUL, and UTF-16 halves that Django's decoding
# leaves in place of undecodable bytes. A lookup comparing a column with one fails in the driver.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class AdminQueryHygieneMiddleware:
    """Refuse (400) an admin request whose query names or values the database cannot compare.

    The back office's own filters clean what they read (``backoffice.text``); the Django admin's
    change lists pass ``?kind=…`` straight into a lookup, where a NUL is a server error on
    PostgreSQL. Asking each of the admin's classes (ours, axes', django-celery-beat's, OTP's) to
    clean its filters would miss the next one registered, so the admin's path is guarded here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/admin/") and any(
            _UNSTORABLE.search(name) or _UNSTORABLE.search(value)
            for name, values in request.GET.lists()
            for value in values
        ):
            raise BadRequest("A query parameter holds a character the database cannot store.")
        return self.get_response(request)
