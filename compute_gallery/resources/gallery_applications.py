"""Gallery applications (``.../galleries/{g}/applications``): the definition versions belong to.

Compute answers application writes synchronously: 201 or 200 with the finished resource,
no provisioningState and no operation headers (as observed on the wire). Deletion is
long-running like the other gallery resources.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from ..arm import errors
from ..arm.ids import APPLICATION_TYPE, ResourceId
from ..arm.locations import Region
from ..arm.request import ArmRequest
from ..storage import Record
from . import common, rules
from .tracked import ComputeResource

MAX_NAME = 117
# Letters, digits, '-', '_' and '.', starting with a letter or digit and not ending in '.'.
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_-])?$")

IMMUTABLE = ("properties.supportedOSType",)


class GalleryApplications(ComputeResource):
    type: ClassVar[str] = APPLICATION_TYPE
    type_name: ClassVar[str] = "galleries/applications"
    model: ClassVar[str] = "GalleryApplication"
    root: ClassVar[str] = "galleryApplication"
    long_running: ClassVar[bool] = False

    def check_name(self, rid: ResourceId) -> None:
        if len(rid.name) > MAX_NAME or not _NAME.match(rid.name):
            raise errors.InvalidParameter(
                f"The gallery application name '{rid.name}' is invalid. It can contain only "
                "letters, numbers, hyphens, underscores and periods, must start with a letter "
                f"or number, cannot end with a period, and can be at most {MAX_NAME} characters "
                "long.",
                target="galleryApplicationName",
            )

    def prepare(
        self,
        request: ArmRequest,
        rid: ResourceId,
        body: dict[str, Any],
        region: Region,
        existing: Record | None,
    ) -> dict[str, Any]:
        properties: dict[str, Any] = dict(body.get("properties") or {})
        path = f"{self.root}.properties"
        before = common.lookup(existing.body, "properties.endOfLifeDate") if existing else None
        rules.end_of_life(properties.get("endOfLifeDate"), before, f"{path}.endOfLifeDate")
        rules.custom_actions(properties.get("customActions"), f"{path}.customActions")
        if existing is not None:
            common.check_immutable(existing.body, {"properties": properties}, IMMUTABLE, self.root)
        return properties
