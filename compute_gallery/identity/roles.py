"""Role-based access: the built-in roles, the action a request performs, and scope matching.

Actions are Azure's (``Microsoft.Compute/galleries/applications/versions/write``); a role
allows an action when one of its ``actions`` patterns matches it and none of its
``notActions`` does, ``*`` matching any run of characters, case-insensitively. An
assignment at a scope applies to that scope and everything below it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True, slots=True)
class Role:
    actions: tuple[str, ...]
    not_actions: tuple[str, ...] = ()

    def allows(self, action: str) -> bool:
        return any(_pattern(p).fullmatch(action) for p in self.actions) and not any(
            _pattern(p).fullmatch(action) for p in self.not_actions
        )


# The data-plane-free parts of Azure's built-in role definitions.
ROLES: dict[str, Role] = {
    "Owner": Role(("*",)),
    "Contributor": Role(
        ("*",),
        (
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Compute/galleries/share/action",
        ),
    ),
    "Reader": Role(("*/read",)),
}

_VERBS = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}


def action(namespace_type: str, method: str) -> str:
    """``Microsoft.Compute/galleries`` and ``PUT`` -> ``Microsoft.Compute/galleries/write``."""
    return f"{namespace_type}/{_VERBS.get(method, 'action')}"


def resource_type_of(resource_id: str) -> str:
    """The ARM type of a resource id: ``Microsoft.Compute/galleries/applications``, ...

    Ids without a provider segment are resource groups (or the subscription itself).
    """
    parts = resource_id.strip("/").split("/")
    lowered = [part.lower() for part in parts]
    if "providers" in lowered:
        start = lowered.index("providers")
        namespace = parts[start + 1]
        types = parts[start + 2 :: 2]
        return "/".join([namespace, *types])
    if len(parts) >= 4:
        return "Microsoft.Resources/subscriptions/resourceGroups"
    return "Microsoft.Resources/subscriptions"


def within(scope: str, target: str) -> bool:
    """Whether ``target`` is ``scope`` or lies below it (ARM ids compare case-insensitively)."""
    if scope == "/":
        return True
    scope, target = scope.lower().rstrip("/"), target.lower().rstrip("/")
    return target == scope or target.startswith(scope + "/")


@cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in text.split("*")), re.IGNORECASE)
