"""ARM resource ids for the resources compute-gallery serves, and the keys they are stored by."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from . import errors

RESOURCE_GROUP_TYPE = "Microsoft.Resources/resourceGroups"
GALLERY_TYPE = "Microsoft.Compute/galleries"
APPLICATION_TYPE = "Microsoft.Compute/galleries/applications"
VERSION_TYPE = "Microsoft.Compute/galleries/applications/versions"

_TYPE_KEYS = {
    name: name.lower()
    for name in (RESOURCE_GROUP_TYPE, GALLERY_TYPE, APPLICATION_TYPE, VERSION_TYPE)
}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_RESOURCE_GROUP = re.compile(r"^[-\w._()]{1,90}$")


@dataclass(frozen=True, slots=True)
class ResourceId:
    """A subscription, resource group, gallery, application or version, by its path names.

    Names keep the casing they arrived with; ``key`` folds case, as ARM compares ids.
    """

    subscription: str
    resource_group: str | None = None
    gallery: str | None = None
    application: str | None = None
    version: str | None = None
    # Derived on first use and kept: a request asks for the same id, key and parent many times.
    _id: str | None = field(default=None, init=False, repr=False, compare=False)
    _key: str | None = field(default=None, init=False, repr=False, compare=False)
    _parent: ResourceId | None = field(default=None, init=False, repr=False, compare=False)
    _group: ResourceId | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        for part in (self.version, self.application, self.gallery, self.resource_group):
            if part is not None:
                return part
        return self.subscription

    @property
    def type(self) -> str:
        if self.version is not None:
            return VERSION_TYPE
        if self.application is not None:
            return APPLICATION_TYPE
        if self.gallery is not None:
            return GALLERY_TYPE
        return RESOURCE_GROUP_TYPE

    @property
    def id(self) -> str:
        if self._id is None:
            object.__setattr__(self, "_id", self._path())
            assert self._id is not None
        return self._id

    @property
    def key(self) -> str:
        if self._key is None:
            object.__setattr__(self, "_key", self.id.lower())
            assert self._key is not None
        return self._key

    def _path(self) -> str:
        text = f"/subscriptions/{self.subscription}"
        if self.resource_group is None:
            return text
        text += f"/resourceGroups/{self.resource_group}"
        if self.gallery is None:
            return text
        text += f"/providers/Microsoft.Compute/galleries/{self.gallery}"
        if self.application is not None:
            text += f"/applications/{self.application}"
        if self.version is not None:
            text += f"/versions/{self.version}"
        return text

    @property
    def type_key(self) -> str:
        """The type lower-cased, as records store it."""
        return _TYPE_KEYS[self.type]

    @property
    def subscription_key(self) -> str:
        return self.subscription.lower()

    @property
    def parent(self) -> ResourceId:
        if self._parent is None:
            object.__setattr__(self, "_parent", self._make_parent())
            assert self._parent is not None
        return self._parent

    def _make_parent(self) -> ResourceId:
        if self.version is not None:
            return ResourceId(
                self.subscription, self.resource_group, self.gallery, self.application
            )
        if self.application is not None:
            return ResourceId(self.subscription, self.resource_group, self.gallery)
        if self.gallery is not None:
            return ResourceId(self.subscription, self.resource_group)
        return ResourceId(self.subscription)

    @property
    def group(self) -> ResourceId:
        if self._group is None:
            object.__setattr__(self, "_group", ResourceId(self.subscription, self.resource_group))
            assert self._group is not None
        return self._group

    @property
    def relative_type_path(self) -> str:
        """``galleries/g/applications/a``: how ARM names a nested parent in its messages."""
        parts = [p for p in (self.gallery, self.application, self.version) if p is not None]
        return "/".join(parts)


@functools.lru_cache(maxsize=4096)
def resource_id(
    subscription: str,
    resource_group: str | None = None,
    gallery: str | None = None,
    application: str | None = None,
    version: str | None = None,
) -> ResourceId:
    """The id of the resource these names name; the same object for the same names.

    Ids are immutable, and clients name the same resources again and again (polls, reads,
    replacements): each id's derived forms (``id``, ``key``, parents) are then made once.
    """
    return ResourceId(subscription, resource_group, gallery, application, version)


def check_subscription(subscription: str) -> None:
    """ARM accepts any well-formed subscription id (a GUID); anything else is refused."""
    if not _well_formed_guid(subscription):
        raise errors.InvalidSubscriptionId(
            f"The provided subscription identifier '{subscription}' is malformed or invalid.",
            status=400,
        )


@functools.lru_cache(maxsize=4096)
def _well_formed_guid(text: str) -> bool:
    # A client sends the same few subscription ids over and over.
    return _GUID.match(text) is not None


def check_resource_group_name(name: str) -> None:
    """ARM's resource-group name rule: 1-90 of letters, digits, ``-_.()``, not ending in '.'."""
    if not _RESOURCE_GROUP.match(name) or name.endswith("."):
        raise errors.InvalidResourceGroupName(
            f"The specified resource group name '{name}' is invalid. Resource group names "
            "can only include alphanumeric, underscore, parentheses, hyphen, period (except at "
            "end), and Unicode characters that match the allowed characters.",
            target="resourceGroupName",
        )
