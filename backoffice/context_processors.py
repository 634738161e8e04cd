from backoffice.roles import Role, has_role


def roles(request):
    user = request.user
    return {
        "is_moderator": has_role(user, Role.MODERATOR),
        "is_senior_moderator": has_role(user, Role.SENIOR_MODERATOR),
        "is_policy_admin": has_role(user, Role.POLICY_ADMIN),
    }
