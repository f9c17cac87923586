"""Galleries (``Microsoft.Compute/galleries``): the top-level container of applications."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from ..arm import errors
from ..arm.ids import GALLERY_TYPE, ResourceId
from ..arm.locations import Region
from ..arm.request import ArmRequest, Reply
from ..storage import Record
from . import common
from .tracked import ComputeResource

if TYPE_CHECKING:
    from ..service import Service

# Azure's documented rule, stricter than the OpenAPI pattern: English letters and digits, with
# '_' and '.' allowed inside but not at either end, no '-', at most 80 characters.
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.]{0,78}[A-Za-z0-9])?$")


class Galleries(ComputeResource):
    type: ClassVar[str] = GALLERY_TYPE
    type_name: ClassVar[str] = "galleries"
    model: ClassVar[str] = "Gallery"
    root: ClassVar[str] = "gallery"
    extras: ClassVar[tuple[str, ...]] = ("identity",)

    def check_name(self, rid: ResourceId) -> None:
        if not _NAME.match(rid.name):
            raise errors.InvalidParameter(
                f"The gallery name '{rid.name}' is invalid. The gallery name can contain only "
                "English letters, numbers, underscores and periods; underscores and periods "
                "cannot be at the beginning or the end; and it can be at most 80 characters "
                "long.",
                target="galleryName",
            )

    def prepare(
        self,
        request: ArmRequest,
        rid: ResourceId,
        body: dict[str, Any],
        region: Region,
        existing: Record | None,
    ) -> dict[str, Any]:
        properties = dict(body.get("properties") or {})
        properties["identifier"] = {"uniqueName": f"{rid.subscription}-{rid.name.upper()}"}
        identity = body.get("identity")
        if identity is not None:
            body["identity"] = _identity(identity, existing)
        return properties

    def location_changed(self, existing: Record, region: Region) -> None:
        # Galleries are top-level: ARM itself refuses the move before Compute sees it.
        raise errors.InvalidResourceLocation(
            f"The resource '{existing.body['name']}' already exists in location "
            f"'{existing.body['location']}' in resource group "
            f"'{existing.id.split('/')[4]}'. A resource with the same name cannot be created "
            f"in location '{region.name}'. Please select a new resource name."
        )

    async def list_by_subscription(self, service: Service, request: ArmRequest) -> Reply:
        limit = common.page_limit(request, service.settings.page_size)
        records = await service.store.list_by_subscription(
            request.params["subscriptionid"].lower(),
            self.type.lower(),
            common.skip_token(request),
            limit + 1,
        )
        body: dict[str, Any] = {
            "value": [self.shape(record, request.api_version) for record in records[:limit]]
        }
        if len(records) > limit:
            body["nextLink"] = common.next_link(request, records[limit - 1].key, limit)
        return Reply(200, body)


def _identity(identity: dict[str, Any], existing: Record | None) -> dict[str, Any]:
    """A managed identity: a system-assigned one gets ids, kept across updates."""
    kind = str(identity.get("type", "None"))
    if kind == "None":
        return {"type": "None"}
    result = dict(identity)
    if "SystemAssigned" in kind:
        before = (existing.body.get("identity") or {}) if existing else {}
        result["principalId"] = before.get("principalId") or str(uuid.uuid4())
        result["tenantId"] = before.get("tenantId") or str(uuid.uuid4())
    assigned = result.get("userAssignedIdentities")
    if isinstance(assigned, dict):
        result["userAssignedIdentities"] = {
            key: {
                "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, key.lower())),
                "clientId": str(uuid.uuid5(uuid.NAMESPACE_DNS, key.lower())),
            }
            for key in assigned
        }
    return result
