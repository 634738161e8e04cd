"""The back office's error pages: inside its layout, saying why, with a way back.

404 and 500 use Django's own handlers with ``templates/404.html`` and ``500.html``; the
403 handler is ours because the page names the role that was missing, which only the
exception object carries (``moderation.views.access.RoleRequired``).
"""

from __future__ import annotations

from django.shortcuts import render
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import requires_csrf_token

from backoffice.roles import Role

ROLE_LABELS = {
    Role.MODERATOR: _("moderator"),
    Role.SENIOR_MODERATOR: _("senior moderator"),
    Role.POLICY_ADMIN: _("policy admin"),
}


# The layout's sign-out form needs a CSRF token, as on Django's own error pages.
@requires_csrf_token
def permission_denied(request, exception=None):
    roles = [str(ROLE_LABELS[role]) for role in getattr(exception, "roles", ()) if role in ROLE_LABELS]
    # Chinese lists with the enumeration comma: 审核员、高级审核员.
    separator = "、" if (get_language() or "").startswith("zh") else ", "
    return render(request, "403.html", {"roles": separator.join(roles), "role_count": len(roles)}, status=403)
