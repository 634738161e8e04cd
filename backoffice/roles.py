"""The back office's roles, held as Django groups (created by a moderation migration).

Views check roles server-side through ``has_role``; templates get the same answers from
the ``roles`` context processor so they only show buttons a user may press.
"""

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class Role(StrEnum):
    MODERATOR = "moderator"
    SENIOR_MODERATOR = "senior moderator"
    POLICY_ADMIN = "policy admin"


# A senior moderator can do everything a moderator can.
IMPLIED_BY = {
    Role.MODERATOR: {Role.MODERATOR, Role.SENIOR_MODERATOR},
    Role.SENIOR_MODERATOR: {Role.SENIOR_MODERATOR},
    Role.POLICY_ADMIN: {Role.POLICY_ADMIN},
}


def user_roles(user: AbstractBaseUser | AnonymousUser) -> set[Role]:
    if not user.is_authenticated:
        return set()
    if user.is_superuser:
        return set(Role)
    cached = getattr(user, "_backoffice_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = {role for role in Role if role.value in names}
        user._backoffice_roles = cached
    return cached


def has_role(user: AbstractBaseUser | AnonymousUser, role: Role) -> bool:
    return bool(user_roles(user) & IMPLIED_BY[role])
