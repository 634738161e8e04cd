from backoffice.roles import Role, has_role


def roles(request):
    user = request.user
    return {
        "is_moderator": has_role(user, Role.MODERATOR),
        "is_senior_moderator": has_role(user, Role.SENIOR_MODERATOR),
        "is_policy_admin": has_role(user, Role.POLICY_ADMIN),
        # A seller signed in to the back office sees its API token page. Called by the
        # template only when the user has no staff role, so staff pages pay no query for it.
        "is_merchant_user": lambda: user.is_authenticated and _has_merchant(user),
    }


def _has_merchant(user) -> bool:
    from sellers.models import Merchant

    try:
        return user.merchant is not None
    except Merchant.DoesNotExist:
        return False
