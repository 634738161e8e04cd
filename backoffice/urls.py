from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from backoffice import account, views

admin.site.site_header = "Ban enforcement: administration"
admin.site.site_title = "Ban enforcement"

backoffice_patterns = [
    path("", views.home, name="home"),
    path("api-token/", account.api_token, name="api-token"),
    path("", include("moderation.urls")),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="backoffice:home", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("backoffice/", include((backoffice_patterns, "backoffice"))),
    path("api/v1/", include(("moderation.api.urls", "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
