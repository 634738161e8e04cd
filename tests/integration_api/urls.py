"""The project's URLs with the integrations' back-office pages, as the lead wires them: in
``moderation.urls``, ``path("integrations/", include("moderation.urls_integrations"))``.

The pages' tests use this URLconf (``pytest.mark.urls``); once that line is in, it is the project's own.
"""

from django.urls import NoReverseMatch, URLResolver, include, path, reverse

from backoffice.urls import backoffice_patterns
from backoffice.urls import urlpatterns as project_patterns

try:
    reverse("backoffice:integration-index", urlconf="backoffice.urls")
    urlpatterns = project_patterns
except NoReverseMatch:
    _with_integrations = [path("integrations/", include("moderation.urls_integrations")), *backoffice_patterns]
    urlpatterns = [
        path("backoffice/", include((_with_integrations, "backoffice")))
        if isinstance(entry, URLResolver) and entry.namespace == "backoffice"
        else entry
        for entry in project_patterns
    ]
