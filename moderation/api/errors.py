"""Service refusals as HTTP answers: a field-level 400, a 403 naming the sanction, a 409 for a conflict."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, ValidationError

from moderation.services.appeals import AppealConflict
from sellers.services import MerchantRestricted


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def _detail(error: DjangoValidationError):
    if hasattr(error, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): messages
            for field, messages in error.message_dict.items()
        }
    return {"non_field_errors": error.messages}


def as_api_error(error: Exception) -> APIException:
    """The DRF exception to raise for a service's refusal."""
    if isinstance(error, AppealConflict):
        return Conflict(_detail(error))
    if isinstance(error, DjangoValidationError):
        return ValidationError(_detail(error))
    if isinstance(error, MerchantRestricted):
        return PermissionDenied(str(error))
    if isinstance(error, ObjectDoesNotExist):
        return NotFound("Not found.")
    raise error
