"""Who may call: the authentication and authorisation steps of the ARM pipeline.

``Access`` is the permissive default: any well-formed bearer token, everyone sees
everything. ``StrictAccess`` validates tokens and applies the directory's role assignments,
the way Azure Resource Manager does before a request reaches a resource provider: a
subscription of another tenant is a 401, an action outside the caller's roles a 403
``AuthorizationFailed``, and lists keep only what the caller may read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..arm import errors
from ..arm.request import ArmRequest, Reply
from ..arm.routing import Route
from . import roles
from .directory import Directory
from .issuer import Issuer
from .tokens import Caller, TokenValidator

if TYPE_CHECKING:
    from ..service import Service

# Routes whose handlers show each caller only its own part of the directory.
_DIRECTORY_TYPES = {"subscriptions", "tenants"}
_OPERATION_TYPES = {"operationresults", "locations/capsOperations"}


class Access:
    """The permissive mode: a request needs a well-formed bearer token, nothing more."""

    def __init__(self, directory: Directory, issuer: Issuer) -> None:
        self.directory = directory
        self.issuer = issuer

    def challenge(self, description: str, tenant_id: str | None = None) -> dict[str, str]:
        """The ``WWW-Authenticate`` header of a 401: where to get a token, and why."""
        tenant = tenant_id or self.directory.tenants[0].id
        # The description may quote a token's claims: keep the header one line of ASCII.
        escaped = "".join(
            ch if " " <= ch <= "~" and ch != '"' else ("'" if ch == '"' else "?")
            for ch in description
        )
        return {
            "WWW-Authenticate": f'Bearer authorization_uri="{self.issuer.authority}/{tenant}", '
            f'error="invalid_token", error_description="{escaped}"'
        }

    def bearer_token(self, headers: dict[str, str]) -> str:
        value = headers.get("authorization")
        if value is None:
            raise errors.AuthenticationFailed(
                "Authentication failed. The 'Authorization' header is missing.",
                headers=self.challenge(
                    "The authentication failed because of missing 'Authorization' header."
                ),
            )
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.InvalidAuthenticationToken(
                "The access token is invalid.",
                headers=self.challenge("The access token is invalid."),
            )
        return token.strip()

    async def authenticate(self, headers: dict[str, str]) -> Caller | None:
        """The caller the request's token names; None when tokens are not checked."""
        self.bearer_token(headers)
        return None

    async def authorize(self, service: Service, route: Route, request: ArmRequest) -> None:
        """Refuse a request the caller may not make (401 for the wrong tenant, else 403)."""

    def visible(self, route: Route, request: ArmRequest, reply: Reply) -> Reply:
        """The reply with only what the caller may read."""
        return reply

    def sees_subscription(self, caller: Caller | None, subscription_id: str) -> bool:
        return True

    def sees_tenant(self, caller: Caller | None, tenant_id: str) -> bool:
        return True


class StrictAccess(Access):
    """Validated tokens and role-based access from the directory's role assignments."""

    def __init__(self, directory: Directory, issuer: Issuer, validator: TokenValidator) -> None:
        super().__init__(directory, issuer)
        self.validator = validator

    async def authenticate(self, headers: dict[str, str]) -> Caller | None:
        token = self.bearer_token(headers)
        try:
            return await self.validator.validate(token)
        except errors.ArmError as error:
            error.headers = self.challenge(error.message)
            raise

    async def authorize(self, service: Service, route: Route, request: ArmRequest) -> None:
        caller: Caller = request.caller
        subscription_id = request.params.get("subscriptionid")
        if subscription_id is not None:
            self._check_tenant(caller, subscription_id)
        if route.type_name in _DIRECTORY_TYPES:
            return
        if route.type_name == "providers":
            # Provider metadata is for anyone with a role in the subscription.
            assert subscription_id is not None
            if self.sees_subscription(caller, subscription_id):
                return
        if route.type_name in _OPERATION_TYPES:
            assert subscription_id is not None
            await self._authorize_operation(service, route, request, caller, subscription_id)
            return
        action = roles.action(_namespace_type(route), request.method)
        scope = _scope(route, request)
        if self._allows(caller, action, scope):
            return
        if _is_collection(route) and self._allows_below(caller, action, scope):
            return  # the list shows the part the caller may read
        raise _denied(caller, action, scope)

    def visible(self, route: Route, request: ArmRequest, reply: Reply) -> Reply:
        if (
            request.method != "GET"
            or reply.status != 200
            or not _is_collection(route)
            or route.type_name in _DIRECTORY_TYPES
            or not isinstance(reply.body, dict)
            or not isinstance(reply.body.get("value"), list)
        ):
            return reply
        caller: Caller = request.caller
        action = roles.action(_namespace_type(route), "GET")
        if self._allows(caller, action, _scope(route, request)):
            return reply
        body: dict[str, Any] = dict(reply.body)
        body["value"] = [
            item
            for item in reply.body["value"]
            if isinstance(item, dict) and self._allows(caller, action, str(item.get("id", "")))
        ]
        return Reply(reply.status, body, reply.headers)

    def sees_subscription(self, caller: Caller | None, subscription_id: str) -> bool:
        """Whether any of the caller's roles reaches into the subscription (Azure's list rule)."""
        assert caller is not None
        subscription = self.directory.subscription(subscription_id)
        if subscription is not None and subscription.tenant.lower() != caller.tenant_id.lower():
            return False
        root = f"/subscriptions/{subscription_id}"
        return any(
            roles.within(a.scope, root) or roles.within(root, a.scope)
            for a in self.directory.assignments_of(caller.object_id)
        )

    def sees_tenant(self, caller: Caller | None, tenant_id: str) -> bool:
        assert caller is not None
        return caller.tenant_id.lower() == tenant_id.lower()

    # -- rules -----------------------------------------------------------------------------

    def _allows(self, caller: Caller, action: str, scope: str) -> bool:
        return any(
            roles.within(a.scope, scope) and roles.ROLES[a.role].allows(action)
            for a in self.directory.assignments_of(caller.object_id)
        )

    def _allows_below(self, caller: Caller, action: str, scope: str) -> bool:
        """Whether the caller may do ``action`` somewhere strictly below ``scope``."""
        return any(
            roles.within(scope, a.scope)
            and a.scope.lower() != scope.lower()
            and roles.ROLES[a.role].allows(action)
            for a in self.directory.assignments_of(caller.object_id)
        )

    def _check_tenant(self, caller: Caller, subscription_id: str) -> None:
        """A subscription answers only tokens of its own tenant, as in Azure."""
        subscription = self.directory.subscription(subscription_id)
        if subscription is None or subscription.tenant.lower() == caller.tenant_id.lower():
            return
        expected = self.issuer.token_issuer(subscription.tenant)
        message = (
            f"The access token is from the wrong issuer '{caller.issuer}'. It must match the "
            f"tenant '{expected}' associated with this subscription. Please use the authority "
            f"(URL) '{self.issuer.authority}/{subscription.tenant}' to get the token. Note, if "
            "the subscription is transferred to another tenant there is no impact to the "
            "services, but information about new tenant could take time to propagate (up to an "
            "hour). If you just transferred your subscription and see this error message, "
            "please try back later."
        )
        raise errors.ArmError(
            message,
            code="InvalidAuthenticationTokenTenant",
            status=401,
            headers=self.challenge(message, subscription.tenant),
        )

    async def _authorize_operation(
        self,
        service: Service,
        route: Route,
        request: ArmRequest,
        caller: Caller,
        subscription_id: str,
    ) -> None:
        """An operation's status is readable by whoever may read the resource it changes
        (so by whoever started it: every role that writes also reads), or the subscription."""
        op = await service.store.get_operation(request.params["operationid"])
        if op is not None and op.subscription.lower() == subscription_id.lower():
            resource_action = roles.action(roles.resource_type_of(op.resource_id), "GET")
            if self._allows(caller, resource_action, op.resource_id):
                return
        action = roles.action(_namespace_type(route), "GET")
        scope = f"/subscriptions/{subscription_id}"
        if not self._allows(caller, action, scope):
            raise _denied(caller, action, scope)


def _namespace_type(route: Route) -> str:
    """``Microsoft.Compute/galleries/applications``, ``Microsoft.Resources/subscriptions/...``."""
    if route.provider == "Microsoft.Resources":
        return f"Microsoft.Resources/subscriptions/{route.type_name}"
    return f"{route.provider}/{route.type_name}"


def _is_collection(route: Route) -> bool:
    return not route.template.endswith("}")


def _scope(route: Route, request: ArmRequest) -> str:
    """What an action applies to: the resource itself, or the parent a list is taken from."""
    if route.type_name == "providers":
        return f"/subscriptions/{request.params['subscriptionid']}"
    parts = [part for part in request.path.split("/") if part]
    if _is_collection(route):
        parts = parts[:-1]
        if len(parts) >= 2 and parts[-2].lower() == "providers":
            parts = parts[:-2]
    return "/" + "/".join(parts)


def _denied(caller: Caller, action: str, scope: str) -> errors.ArmError:
    return errors.ArmError(
        f"The client '{caller.client_id or caller.object_id}' with object id "
        f"'{caller.object_id}' does not have authorization to perform action '{action}' over "
        f"scope '{scope}' or the scope is invalid. If access was recently granted, please "
        "refresh your credentials.",
        code="AuthorizationFailed",
        status=403,
    )
