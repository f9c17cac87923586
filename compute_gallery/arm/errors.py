"""ARM errors: one base class carrying the CloudError fields, one subclass per ARM code.

Any layer raises these; the request pipeline turns them into the CloudError body

    {"error": {"code": ..., "message": ..., "target": ..., "details": [...]}}

with the error's HTTP status. ``target`` and ``details`` are omitted when empty, as
Compute does.
"""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """An error answered to the client as a CloudError."""

    status: int = 400
    code: str = "BadRequest"

    def __init__(
        self,
        message: str,
        *,
        target: str | None = None,
        details: list[ArmError] | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.target = target
        self.details = details or []
        self.headers = headers or {}
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_body(self) -> dict[str, Any]:
        """The ``error`` object of a CloudError body (without the outer wrapper)."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            error["target"] = self.target
        if self.details:
            error["details"] = [detail.to_body() for detail in self.details]
        return error

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.code!r}, {self.message!r})"


class InvalidParameter(ArmError):
    code = "InvalidParameter"


class InvalidRequestContent(ArmError):
    code = "InvalidRequestContent"


class MissingApiVersionParameter(ArmError):
    code = "MissingApiVersionParameter"


class InvalidApiVersionParameter(ArmError):
    code = "InvalidApiVersionParameter"


class NoRegisteredProviderFound(ArmError):
    code = "NoRegisteredProviderFound"


class InvalidResourceType(ArmError):
    status = 404
    code = "InvalidResourceType"


class InvalidSubscriptionId(ArmError):
    code = "InvalidSubscriptionId"


class InvalidResourceName(ArmError):
    code = "InvalidResourceName"


class InvalidResourceGroupName(ArmError):
    code = "InvalidResourceGroupName"


class LocationRequired(ArmError):
    code = "LocationRequired"


class LocationNotAvailableForResourceType(ArmError):
    code = "LocationNotAvailableForResourceType"


class InvalidTags(ArmError):
    code = "InvalidTags"


class InvalidTagName(ArmError):
    code = "InvalidTagName"


class InvalidTagNameCharacters(ArmError):
    code = "InvalidTagNameCharacters"


class InvalidTagValueLength(ArmError):
    code = "InvalidTagValueLength"


class AuthenticationFailed(ArmError):
    status = 401
    code = "AuthenticationFailed"


class InvalidAuthenticationToken(ArmError):
    status = 401
    code = "InvalidAuthenticationToken"


class ResourceNotFound(ArmError):
    status = 404
    code = "ResourceNotFound"


class ResourceGroupNotFound(ArmError):
    status = 404
    code = "ResourceGroupNotFound"


class ParentResourceNotFound(ArmError):
    status = 404
    code = "ParentResourceNotFound"


class OperationNotFound(ArmError):
    status = 404
    code = "NotFound"


class PropertyChangeNotAllowed(ArmError):
    status = 409
    code = "PropertyChangeNotAllowed"


class CannotDeleteResource(ArmError):
    status = 409
    code = "CannotDeleteResource"


class InvalidResourceLocation(ArmError):
    status = 409
    code = "InvalidResourceLocation"


class OperationNotAllowed(ArmError):
    status = 409
    code = "OperationNotAllowed"


class ResourceGroupBeingDeleted(ArmError):
    status = 409
    code = "ResourceGroupBeingDeleted"


class MethodNotAllowed(ArmError):
    status = 405
    code = "MethodNotAllowed"


class UnsupportedMediaType(ArmError):
    status = 415
    code = "UnsupportedMediaType"


class InternalServerError(ArmError):
    status = 500
    code = "InternalServerError"


class ServiceUnavailable(ArmError):
    status = 503
    code = "ServiceUnavailable"


def required_parameter_missing(path: str) -> InvalidParameter:
    """Compute's error for a required property that is absent or null."""
    return InvalidParameter(f"Required parameter '{path}' is missing (null).", target=path)


def value_not_allowed(value: object, path: str, allowed: list[str]) -> InvalidParameter:
    """Compute's error for an enum value outside the allowed set."""
    return InvalidParameter(
        f"The value '{value}' of parameter '{path}' is not allowed. "
        f"Allowed values are: {', '.join(allowed)}.",
        target=path,
    )


def out_of_range(value: int, path: str, low: int, high: int) -> InvalidParameter:
    """Compute's error for a number outside its documented bounds."""
    return InvalidParameter(
        f"The value {value} of parameter {path} is out of range. "
        f"The value must be between {low} and {high}, inclusive.",
        target=path,
    )


def content_not_deserializable(detail: str) -> InvalidRequestContent:
    """ARM's error for a body that is not JSON or has a value of the wrong JSON type."""
    return InvalidRequestContent(
        f"The request content was invalid and could not be deserialized: '{detail}'."
    )
