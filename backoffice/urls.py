from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from backoffice import account, health
from moderation.views import dashboard

admin.site.site_header = "Ban enforcement: administration"
admin.site.site_title = "Ban enforcement"

backoffice_patterns = [
    path("", dashboard.home, name="home"),
    path("api-token/", account.api_token, name="api-token"),
    path("api-token/<uuid:token_id>/revoke/", account.api_token_revoke, name="api-token-revoke"),
    path("profile/", account.profile, name="profile"),
    path("profile/two-factor/off/", account.two_factor_disable, name="two-factor-disable"),
    path("", include("moderation.urls")),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="backoffice:home", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/two-factor/", account.two_factor_verify, name="two-factor-verify"),
    path("accounts/two-factor/setup/", account.two_factor_setup, name="two-factor-setup"),
    path("healthz", health.healthz, name="healthz"),
    path("backoffice/", include((backoffice_patterns, "backoffice"))),
    path("api/v1/", include(("moderation.api.urls", "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves the docs page's script as a file: the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]

# 404 and 500 are Django's handlers with templates/404.html and 500.html.
handler403 = "backoffice.errors.permission_denied"
