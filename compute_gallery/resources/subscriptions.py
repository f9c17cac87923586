"""Subscriptions and tenants (Microsoft.Resources): what ``az login`` lists after a sign-in.

The directory's subscriptions are the ones listed; any other well-formed subscription id
still works implicitly, in the first tenant, and answers GET. In strict mode a caller sees
only its own tenant and the subscriptions its role assignments reach into.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..arm import errors
from ..arm.ids import check_subscription
from ..arm.request import ArmRequest, Reply
from ..identity.directory import Subscription, Tenant

if TYPE_CHECKING:
    from ..service import Service

# The Microsoft.Resources subscription api-versions clients send (the CLI: 2022-12-01).
API_VERSIONS: tuple[str, ...] = (
    "2014-04-01-preview",
    "2015-11-01",
    "2016-06-01",
    "2018-06-01",
    "2019-06-01",
    "2019-11-01",
    "2020-01-01",
    "2021-01-01",
    "2022-12-01",
)


def _subscription_body(
    service: Service, subscription: Subscription, api_version: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"/subscriptions/{subscription.id}",
        "authorizationSource": "RoleBased",
        "subscriptionId": subscription.id,
        "displayName": subscription.display_name,
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    }
    # tenantId and managedByTenants appeared in 2019-06-01.
    if api_version >= "2019-06-01":
        body["managedByTenants"] = []
        body["tenantId"] = subscription.tenant
        body["tags"] = {}
    return body


def _tenant_body(tenant: Tenant, api_version: str) -> dict[str, Any]:
    body: dict[str, Any] = {"id": f"/tenants/{tenant.id}", "tenantId": tenant.id}
    # The descriptive fields appeared in 2020-01-01.
    if api_version >= "2020-01-01":
        body.update(
            {
                "countryCode": "US",
                "displayName": tenant.display_name,
                "domains": [tenant.default_domain],
                "tenantCategory": "Home",
                "defaultDomain": tenant.default_domain,
                "tenantType": "AAD",
            }
        )
    return body


async def list_subscriptions(service: Service, request: ArmRequest) -> Reply:
    access = service.identity.access
    visible = [
        _subscription_body(service, subscription, request.api_version)
        for subscription in service.identity.directory.subscriptions
        if access.sees_subscription(request.caller, subscription.id)
    ]
    return Reply(200, {"value": visible})


async def get_subscription(service: Service, request: ArmRequest) -> Reply:
    """One subscription; in strict mode, one the caller cannot see is not found."""
    subscription_id = request.params["subscriptionid"]
    check_subscription(subscription_id)
    directory = service.identity.directory
    subscription = directory.subscription(subscription_id) or Subscription(
        subscription_id, directory.tenants[0].id, subscription_id
    )
    if not service.identity.access.sees_subscription(request.caller, subscription.id):
        raise errors.ArmError(
            f"The subscription '{subscription_id}' could not be found.",
            code="SubscriptionNotFound",
            status=404,
        )
    return Reply(200, _subscription_body(service, subscription, request.api_version))


async def list_tenants(service: Service, request: ArmRequest) -> Reply:
    access = service.identity.access
    return Reply(
        200,
        {
            "value": [
                _tenant_body(tenant, request.api_version)
                for tenant in service.identity.directory.tenants
                if access.sees_tenant(request.caller, tenant.id)
            ]
        },
    )
