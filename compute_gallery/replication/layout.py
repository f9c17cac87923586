"""Where a version's replicas go, and the replication state kept in the version's record.

The record's ``properties._replication`` holds what responses never show directly:

    {"status": <replicationStatus, as $expand=ReplicationStatus returns it>,
     "package": {"source": <url without its query>, "sha256": ..., "size": ...},
     "config":  {... the same for defaultConfigurationLink, when there is one},
     "replicas": {<region>: {<storage account type>: <replica count>}}}

``replicas`` lists only regions whose replicas are all in place and hold the recorded content,
so it says what a version's markers in the artifact store must be once its operation ends.
"""

from __future__ import annotations

from typing import Any

from ..arm import locations
from .artifacts import Location
from .sources import identity

STATE = "_replication"
ROLES = ("package", "config")
# The publishing profile's source link of each role.
LINKS = {"package": "mediaLink", "config": "defaultConfigurationLink"}

# Region (short name) -> storage account type -> replica count.
Layout = dict[str, dict[str, int]]


def region_name(name: str) -> str:
    """The short name of a target region as stored (``East US 2`` -> ``eastus2``)."""
    region = locations.find(name)
    return region.name if region else name.replace(" ", "").lower()


def desired(profile: dict[str, Any]) -> Layout:
    """The replica sets the publishing profile asks for, per region.

    A region's own count and storage type come first, then each additional replica set; sets
    of one storage type add up, each replica a location of its own.
    """
    layout: Layout = {}
    for target in profile.get("targetRegions") or []:
        sets: dict[str, int] = {}
        main = (target["storageAccountType"], target["regionalReplicaCount"])
        # An additional set that leaves a field out takes the region's value, or one replica.
        extra = [
            (
                replica_set.get("storageAccountType") or target["storageAccountType"],
                replica_set.get("regionalReplicaCount") or 1,
            )
            for replica_set in target.get("additionalReplicaSets") or []
        ]
        for storage_type, count in [main, *extra]:
            sets[storage_type] = sets.get(storage_type, 0) + count
        layout[region_name(target["name"])] = sets
    return layout


def places(region: str, sets: dict[str, int]) -> list[Location]:
    """The locations of one region's replicas."""
    return [
        Location(region, storage_type, index)
        for storage_type, count in sorted(sets.items())
        for index in range(1, count + 1)
    ]


def links(profile: dict[str, Any]) -> dict[str, str]:
    """The source URL of each role the version has: its package, and its configuration."""
    source = profile.get("source") or {}
    return {role: source[link] for role, link in LINKS.items() if source.get(link)}


def state_of(properties: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = properties.get(STATE) or {}
    return state


def _same_sources(profile: dict[str, Any], state: dict[str, Any]) -> bool:
    """Whether the recorded content came from the sources the profile names (SAS aside)."""
    return all(
        (state.get(role) or {}).get("source") == identity(url)
        for role, url in links(profile).items()
    )


def settled(properties: dict[str, Any]) -> set[str]:
    """The regions whose replicas already match the profile: nothing to copy or remove."""
    return _settled(properties["publishingProfile"], state_of(properties))


def _settled(profile: dict[str, Any], state: dict[str, Any]) -> set[str]:
    if not _same_sources(profile, state):
        return set()
    recorded: Layout = state.get("replicas") or {}
    return {region for region, sets in desired(profile).items() if recorded.get(region) == sets}


def up_to_date(properties: dict[str, Any]) -> bool:
    """Whether the version's replicas are exactly what its profile asks for."""
    return _up_to_date(properties["publishingProfile"], state_of(properties))


def _up_to_date(profile: dict[str, Any], state: dict[str, Any]) -> bool:
    if (state.get("status") or {}).get("aggregatedState") != "Completed":
        return False
    return _same_sources(profile, state) and state.get("replicas") == desired(profile)


def idle(properties: dict[str, Any]) -> bool:
    """Whether a version ``prepared`` has nothing for its operation to do.

    ``prepared`` keeps a Completed status only for a version that is up to date, so this is
    the cheap form of ``up_to_date`` for a state it made.
    """
    return (state_of(properties).get("status") or {}).get("aggregatedState") == "Completed"


def prepared(properties: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """The state a new or replaced version starts its operation with.

    The content and replicas already in place carry over; regions that need work show
    ``Replicating`` at 0 %, those that do not ``Completed``.
    """
    state = dict(state_of(old)) if old is not None else {}
    profile = properties["publishingProfile"]
    if _up_to_date(profile, state):
        return state
    done = _settled(profile, state)
    summary = []
    for target in profile.get("targetRegions") or []:
        finished = region_name(target["name"]) in done
        summary.append(
            region_status(
                target["name"], "Completed" if finished else "Replicating", 100 if finished else 0
            )
        )
    state["status"] = {"aggregatedState": "InProgress", "summary": summary}
    return state


def region_status(name: str, state: str, progress: int, details: str = "") -> dict[str, Any]:
    return {"region": name, "state": state, "details": details, "progress": progress}


def wanted(properties: dict[str, Any]) -> set[tuple[Location, str, str]]:
    """Each (location, role, sha256) that the version's recorded replicas occupy."""
    state = state_of(properties)
    digests = [(role, state[role]["sha256"]) for role in ROLES if state.get(role)]
    return {
        (location, role, digest)
        for region, sets in (state.get("replicas") or {}).items()
        for location in places(region, sets)
        for role, digest in digests
    }
