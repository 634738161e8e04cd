"""Role checks for the back-office views, done on the server for every request."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from backoffice.roles import Role, has_role


class RoleRequired(PermissionDenied):
    """A signed-in user holds none of the roles a page accepts; the 403 page names them."""

    def __init__(self, roles: tuple[Role, ...]):
        self.roles = roles
        super().__init__(f"This page needs one of these roles: {', '.join(roles)}.")


def role_required(*roles: Role):
    """Anonymous users go to the login page; signed-in users without one of the roles get 403."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if not any(has_role(request.user, role) for role in roles):
                raise RoleRequired(roles)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
