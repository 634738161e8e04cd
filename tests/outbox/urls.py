"""The project's URLs with the webhook pages wired as the lead will wire them (moderation/urls.py:
``path("operations/webhooks/", include("moderation.urls_webhooks"))``)."""

from django.urls import include, path

from backoffice import urls as project

handler403 = project.handler403

backoffice_patterns = [
    *project.backoffice_patterns,
    path("operations/webhooks/", include("moderation.urls_webhooks")),
]
urlpatterns = [
    *(pattern for pattern in project.urlpatterns if str(getattr(pattern, "pattern", "")) != "backoffice/"),
    path("backoffice/", include((backoffice_patterns, "backoffice"))),
]
