"""Gallery application versions (``.../applications/{a}/versions/{v}``): the deployable unit.

A version names its package (``mediaLink``), the commands that install and remove it, and
where it is replicated (``targetRegions``). Creating or replacing one is a long-running
operation that fetches the package and copies it to every target region (``replication``);
``$expand=ReplicationStatus`` reports its progress per region.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any, ClassVar

from .. import clock, schema
from ..arm import errors, locations
from ..arm.ids import VERSION_TYPE, ResourceId
from ..arm.locations import Region
from ..arm.request import ArmRequest
from ..replication import layout
from ..storage import Operation, Record
from . import common, rules
from .tracked import ComputeResource

if TYPE_CHECKING:
    from ..service import Service

INT32_MAX = 2**31 - 1
_VERSION_NAME = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")

# The first api-version whose default is a storage strategy rather than Standard_LRS.
STRATEGY_SINCE = "2025-03-03"

PROFILE = "properties.publishingProfile"

# Properties fixed at creation. An update may leave them out (the stored value stays) but
# not change them.
IMMUTABLE = (
    f"{PROFILE}.manageActions.install",
    f"{PROFILE}.manageActions.remove",
    f"{PROFILE}.manageActions.update",
    f"{PROFILE}.settings.packageFileName",
    f"{PROFILE}.settings.configFileName",
    f"{PROFILE}.settings.scriptBehaviorAfterReboot",
    f"{PROFILE}.storageAccountType",
    f"{PROFILE}.storageAccountStrategy",
    f"{PROFILE}.replicationMode",
)
# Commands and file names whose length Compute limits, by the object that holds them.
_LENGTH_LIMITED = {
    "manageActions": ("install", "remove", "update"),
    "settings": ("packageFileName", "configFileName"),
}
_SOURCES = ("mediaLink", "defaultConfigurationLink")
_SOURCE = f"{PROFILE}.source"
_SOURCE_LINKS = tuple(f"{_SOURCE}.{name}" for name in _SOURCES)
_TARGET_REGIONS = f"{PROFILE}.targetRegions"


class GalleryApplicationVersions(ComputeResource):
    type: ClassVar[str] = VERSION_TYPE
    type_name: ClassVar[str] = "galleries/applications/versions"
    model: ClassVar[str] = "GalleryApplicationVersion"
    root: ClassVar[str] = "galleryApplicationVersion"

    def __init__(self, *, allow_file_sources: bool = False) -> None:
        # Whether source links may be file: URLs, which only the operator can allow.
        self.allow_file_sources = allow_file_sources

    def check_name(self, rid: ResourceId) -> None:
        """``Major.Minor.Patch``, each part a non-negative 32-bit integer.

        Leading zeros are accepted and the name is kept as written: ``1.0.0`` and ``01.0.0``
        are different versions (Azure's handling of this case is not documented).
        """
        if not _valid_name(rid.name):
            raise errors.InvalidParameter(
                "The gallery application version name is invalid. The version name should "
                "follow Major(int32).Minor(int32).Patch(int32) format, for e.g: 1.0.0, "
                "2018.12.1 etc.",
                target="galleryApplicationVersionName",
            )

    def prepare(
        self,
        request: ArmRequest,
        rid: ResourceId,
        body: dict[str, Any],
        region: Region,
        existing: Record | None,
    ) -> dict[str, Any]:
        properties: dict[str, Any] = body.get("properties") or {}
        profile: dict[str, Any] = properties["publishingProfile"]
        path = f"{self.root}.{PROFILE}"
        old = existing.body if existing is not None else None
        # The schema leaves manageActions optional, but a new version needs its commands; a
        # replacement may leave them out and keeps the stored ones.
        if old is None and profile.get("manageActions") is None:
            raise errors.required_parameter_missing(f"{path}.manageActions")
        if old is not None:
            # Changes to fixed properties first: a PATCH setting storageAccountType on a
            # version stored with a strategy is a change, not a combination of the two. A
            # replacement that leaves a source link or a fixed property out keeps the stored.
            common.inherit_missing(old, {"properties": properties}, _SOURCE_LINKS)
            self._keep_fixed(old, properties)

        for holder, names in _LENGTH_LIMITED.items():
            values = _object(profile.get(holder))
            for name in names:
                if values.get(name) is not None:
                    rules.max_length(values[name], f"{path}.{holder}.{name}")
        for name in _SOURCES:
            rules.absolute_uri(
                profile["source"].get(name),
                f"{path}.source.{name}",
                files=self.allow_file_sources,
            )
        if profile.get("storageAccountType") and profile.get("storageAccountStrategy"):
            raise errors.InvalidParameter(
                f"The parameters '{path}.storageAccountType' and "
                f"'{path}.storageAccountStrategy' cannot be specified together. Specify one "
                "of them.",
                target=f"{path}.storageAccountStrategy",
            )
        rules.replica_count(profile.get("replicaCount"), f"{path}.replicaCount")
        rules.custom_actions(profile.get("customActions"), f"{path}.customActions")
        rules.end_of_life(
            profile.get("endOfLifeDate"),
            common.lookup(old, f"{PROFILE}.endOfLifeDate") if old else None,
            f"{path}.endOfLifeDate",
        )

        if old is None:
            _default_storage(profile, request.api_version)

        profile.setdefault("replicaCount", 1)
        profile["targetRegions"] = _target_regions(profile, region, path)
        if old is not None:
            self._check_region_removal(rid, old, properties)
        profile.setdefault("excludeFromLatest", False)
        profile.setdefault("enableHealthCheck", False)
        profile["publishedDate"] = (
            common.lookup(old, f"{PROFILE}.publishedDate") if old else None
        ) or clock.iso()
        properties[layout.STATE] = layout.prepared(
            properties, old["properties"] if old is not None else None
        )
        return properties

    def _keep_fixed(self, old: dict[str, Any], properties: dict[str, Any]) -> None:
        """Refuse changes to what is fixed at creation; what is left out keeps its value."""
        new = {"properties": properties}
        before_source = _object(common.lookup(old, _SOURCE))
        after_source = _object(common.lookup(new, _SOURCE))
        for name in _SOURCES:
            if not rules.same_source(before_source.get(name), after_source.get(name)):
                target = f"{self.root}.{PROFILE}.source.{name}"
                raise errors.PropertyChangeNotAllowed(
                    f"Changing property '{target}' is not allowed. Only the SAS token of a "
                    "source URL can change.",
                    target=target,
                )
        common.keep_immutable(old, new, IMMUTABLE, self.root)
        before_types = {
            layout.region_name(r["name"]): r.get("storageAccountType")
            for r in common.lookup(old, _TARGET_REGIONS) or []
        }
        for index, target_region in enumerate(
            properties["publishingProfile"].get("targetRegions") or []
        ):
            before = before_types.get(layout.region_name(target_region["name"]))
            after = target_region.get("storageAccountType")
            if before is not None and after is not None and before != after:
                target = f"{self.root}.{PROFILE}.targetRegions[{index}].storageAccountType"
                raise errors.PropertyChangeNotAllowed(
                    f"Changing property '{target}' is not allowed.", target=target
                )

    def _check_region_removal(
        self, rid: ResourceId, old: dict[str, Any], properties: dict[str, Any]
    ) -> None:
        """Dropping a region the version was replicated to needs the safety profile's consent."""
        safety = properties.get("safetyProfile") or {}
        if safety.get("allowDeletionOfReplicatedLocations"):
            return
        kept = {
            layout.region_name(r["name"]) for r in properties["publishingProfile"]["targetRegions"]
        }
        removed = [
            r["name"]
            for r in common.lookup(old, _TARGET_REGIONS) or []
            if layout.region_name(r["name"]) not in kept
        ]
        if removed:
            raise errors.ArmError(
                "Complete set of target locations not specified while updating gallery "
                f"artifact '{rid.name}' and type 'GalleryApplicationVersion'. Deletion of "
                f"previously replicated locations is not allowed: {', '.join(removed)}. "
                "Specify all existing target locations, or set "
                "'safetyProfile.allowDeletionOfReplicatedLocations' to true to remove them.",
                code="BadRequest",
                target=f"{self.root}.{PROFILE}.targetRegions",
            )

    def provisions_at_once(self, service: Service, resource: dict[str, Any]) -> bool:
        """Only a version whose replicas already match its profile has nothing to do."""
        return layout.idle(resource["properties"]) and super().provisions_at_once(service, resource)

    async def provision(self, service: Service, op: Operation) -> None:
        await service.replication.replicate(op)

    async def deprovision(self, service: Service, op: Operation) -> None:
        # The replicas go first: once the deletion reports Succeeded, they are gone.
        await service.replication.remove(op)
        await self.run_delete(service, op)

    def extra(self, request: ArmRequest, record: Record, shaped: dict[str, Any]) -> None:
        expand = request.flag("$expand")
        if expand is None:
            return
        allowed = schema.expand_values(request.api_version)
        chosen = next((value for value in allowed if value.lower() == expand.lower()), None)
        if chosen is None:
            raise errors.value_not_allowed(expand, "$expand", list(allowed))
        if chosen == "ReplicationStatus":
            shaped["properties"]["replicationStatus"] = replication_status(record)


def replication_status(record: Record) -> dict[str, Any]:
    """Per-region replication state, as the version's operation last stored it.

    A version stored before replication was tracked has none; its status is derived from
    where its operation stands.
    """
    properties = record.body["properties"]
    stored = layout.state_of(properties).get("status")
    if stored is not None:
        return common.clone(stored)
    state = properties.get("provisioningState")
    region_state, progress, aggregated = {
        "Succeeded": ("Completed", 100, "Completed"),
        "Failed": ("Failed", 0, "Failed"),
    }.get(state or "", ("Replicating", 0, "InProgress"))
    return {
        "aggregatedState": aggregated,
        "summary": [
            {"region": r["name"], "state": region_state, "details": "", "progress": progress}
            for r in properties["publishingProfile"].get("targetRegions") or []
        ],
    }


@functools.lru_cache(maxsize=4096)
def _valid_name(name: str) -> bool:
    # Remembered: a client replaces and reads the same versions again and again.
    match = _VERSION_NAME.match(name)
    return match is not None and max(map(int, match.groups())) <= INT32_MAX


def _object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if type(value) is dict else {}


def _default_storage(profile: dict[str, Any], api_version: str) -> None:
    """Before 2025-03-03 the default is Standard_LRS; from it, the PreferStandard_ZRS strategy."""
    if profile.get("storageAccountType") or profile.get("storageAccountStrategy"):
        return
    if api_version >= STRATEGY_SINCE:
        profile["storageAccountStrategy"] = "PreferStandard_ZRS"
    else:
        profile["storageAccountType"] = "Standard_LRS"


def _region_storage(profile: dict[str, Any], region: Region) -> str:
    explicit = profile.get("storageAccountType")
    if explicit:
        return str(explicit)
    if profile.get("storageAccountStrategy") == "PreferStandard_ZRS" and region.availability_zones:
        return "Standard_ZRS"
    return "Standard_LRS"


def _target_regions(profile: dict[str, Any], home: Region, path: str) -> list[dict[str, Any]]:
    """The target regions with Compute's defaults: display names, counts, storage types."""
    requested = profile.get("targetRegions")
    replicas = profile["replicaCount"]
    if not requested:
        requested = [{"name": home.display_name}]
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, entry in enumerate(requested):
        target = f"{path}.targetRegions[{index}]"
        region = locations.find(entry["name"])
        if region is None:
            raise errors.InvalidParameter(
                f"The region '{entry['name']}' of parameter '{target}.name' is not a valid "
                f"Azure region. Valid regions are: {', '.join(locations.names())}.",
                target=f"{target}.name",
            )
        if region.name in seen:
            raise errors.InvalidParameter(
                f"The target region '{entry['name']}' is specified more than once in "
                f"'{path}.targetRegions'. Each region can be listed only once.",
                target=f"{path}.targetRegions",
            )
        seen.add(region.name)
        if entry.get("encryption") is not None:
            raise errors.InvalidParameter(
                f"Parameter '{target}.encryption' is not allowed.", target=f"{target}.encryption"
            )
        rules.replica_count(entry.get("regionalReplicaCount"), f"{target}.regionalReplicaCount")
        for set_index, replica_set in enumerate(entry.get("additionalReplicaSets") or []):
            rules.replica_count(
                replica_set.get("regionalReplicaCount"),
                f"{target}.additionalReplicaSets[{set_index}].regionalReplicaCount",
            )
        filled = dict(entry)
        filled["name"] = region.display_name
        filled.setdefault("regionalReplicaCount", replicas)
        filled.setdefault("storageAccountType", _region_storage(profile, region))
        result.append(filled)
    if home.name not in seen:
        names = ", ".join(entry["name"] for entry in requested)
        raise errors.InvalidParameter(
            f"Gallery application version publishing profile regions '{names}' must contain "
            f"the location of the gallery application version '{home.name}'.",
            target=f"{path}.targetRegions",
        )
    return result
