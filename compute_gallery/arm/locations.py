"""Azure regions: the short names ARM stores and the display names Compute echoes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class Region:
    """One public Azure region."""

    name: str
    display_name: str
    # Zone-redundant storage (Standard_ZRS) is offered only in regions with availability zones.
    availability_zones: bool


def _load() -> dict[str, Region]:
    raw = json.loads(resources.files(__package__).joinpath("regions.json").read_text("utf-8"))
    table: dict[str, Region] = {}
    for entry in raw:
        region = Region(entry["name"], entry["displayName"], entry["availabilityZones"])
        table[_fold(region.name)] = region
        table[_fold(region.display_name)] = region
        # Stored target regions carry display names: those are found without folding.
        table[region.display_name] = region
    return table


def _fold(text: str) -> str:
    # ARM compares locations ignoring case and spaces: "East US 2" == "eastus2".
    return text.replace(" ", "").lower()


_REGIONS = _load()
REGIONS: tuple[Region, ...] = tuple(sorted(set(_REGIONS.values()), key=lambda r: r.name))


def find(location: str) -> Region | None:
    """The region a location string names, in either form, or None."""
    # Most locations arrive as stored: folded ("eastus2") or as displayed ("East US 2").
    region = _REGIONS.get(location)
    return region if region is not None else _REGIONS.get(_fold(location))


def names() -> list[str]:
    """Every short region name, as listed in ARM's LocationNotAvailableForResourceType."""
    return [region.name for region in REGIONS]
