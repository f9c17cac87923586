"""Resource providers (Microsoft.Resources): the registration reads clients make.

Both namespaces the service serves are always registered in every subscription; each
lists the resource types, locations and api-versions the service accepts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import schema
from ..arm import apiversions, errors, locations
from ..arm.request import ArmRequest, Reply

if TYPE_CHECKING:
    from ..service import Service

_COMPUTE_TYPES = (
    "galleries",
    "galleries/applications",
    "galleries/applications/versions",
    "locations/capsOperations",
)


def _provider(subscription_id: str, namespace: str) -> dict[str, Any]:
    regions = [region.display_name for region in locations.REGIONS]
    if namespace == "Microsoft.Compute":
        versions = list(reversed(schema.API_VERSIONS))
        types = [
            {"resourceType": name, "locations": regions, "apiVersions": versions}
            for name in _COMPUTE_TYPES
        ]
    else:
        versions = list(reversed(apiversions.RESOURCES_API_VERSIONS))
        types = [
            {"resourceType": name, "locations": [], "apiVersions": versions}
            for name in ("resourceGroups", "subscriptions", "tenants", "providers")
        ]
    return {
        "id": f"/subscriptions/{subscription_id}/providers/{namespace}",
        "namespace": namespace,
        "registrationState": "Registered",
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": types,
    }


_NAMESPACES = ("Microsoft.Compute", "Microsoft.Resources")


async def list_providers(service: Service, request: ArmRequest) -> Reply:
    subscription_id = request.params["subscriptionid"]
    return Reply(200, {"value": [_provider(subscription_id, name) for name in _NAMESPACES]})


async def get_provider(service: Service, request: ArmRequest) -> Reply:
    wanted = request.params["resourceprovidernamespace"]
    for namespace in _NAMESPACES:
        if namespace.lower() == wanted.lower():
            return Reply(200, _provider(request.params["subscriptionid"], namespace))
    # Only the two namespaces this service implements exist here.
    raise errors.ArmError(
        f"The resource namespace '{wanted}' is invalid.", code="InvalidResourceNamespace"
    )
