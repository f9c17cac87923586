"""The directory: tenants, service principals, subscriptions and role assignments.

It comes from a TOML file (``--identity-config``) or, without one, from the built-in
defaults below, printed at start so that a user can sign in at once:

    [[tenants]]
    id = "..."                      # a GUID
    display_name = "..."            # optional
    default_domain = "..."          # optional; also accepted in place of the id in URLs

    [[principals]]
    client_id = "..."               # the application (client) id: az login -u, client_id=
    secret = "..."                  # az login -p, client_secret=
    object_id = "..."               # optional; the service principal's object id
    tenant = "..."                  # optional; the first tenant when absent
    display_name = "..."            # optional

    [[subscriptions]]
    id = "..."
    tenant = "..."                  # optional; the first tenant when absent
    display_name = "..."            # optional

    [[role_assignments]]
    principal = "..."               # a principal's client id or object id, or any object id
    role = "Reader"                 # Reader, Contributor or Owner
    scope = "/subscriptions/..."    # "/", a subscription, a resource group or a resource

    [tokens]
    lifetime_seconds = 3600         # optional
"""

from __future__ import annotations

import re
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .roles import ROLES

DEFAULT_TENANT = "cafe0000-0000-4000-8000-00000000c0de"
DEFAULT_CLIENT_ID = "c11e0000-0000-4000-8000-00000000c0de"
DEFAULT_SECRET = "compute-gallery-local-secret"
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-00000000c0de"
DEFAULT_LIFETIME_SECONDS = 3600

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# Object ids derived from client ids: stable across restarts, distinct from the client id.
_OBJECT_IDS = uuid.UUID("6f1c0a52-8c1b-4f1e-9f7d-3d2a0c6b5e41")


class DirectoryError(ValueError):
    """The configuration file cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    display_name: str
    default_domain: str


@dataclass(frozen=True, slots=True)
class Principal:
    """A service principal that signs in with a client secret."""

    client_id: str
    object_id: str
    tenant: str
    secret: str
    display_name: str


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    tenant: str
    display_name: str


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    """A role of one principal (by object id) over a scope and everything below it."""

    object_id: str
    role: str
    scope: str


@dataclass(frozen=True, slots=True)
class Directory:
    """Everything the issuer and the role checks know about who exists and who may do what."""

    tenants: tuple[Tenant, ...]
    principals: tuple[Principal, ...]
    subscriptions: tuple[Subscription, ...]
    role_assignments: tuple[RoleAssignment, ...]
    token_lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS
    # Where it came from: a path, or None for the built-in defaults.
    source: Path | None = None
    _by_client: dict[str, Principal] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for principal in self.principals:
            self._by_client[principal.client_id.lower()] = principal

    def tenant(self, name: str) -> Tenant | None:
        """A tenant by its id or its default domain, compared case-insensitively."""
        name = name.lower()
        for tenant in self.tenants:
            if name in (tenant.id.lower(), tenant.default_domain.lower()):
                return tenant
        return None

    def principal(self, client_id: str) -> Principal | None:
        return self._by_client.get(client_id.lower())

    def subscription(self, subscription_id: str) -> Subscription | None:
        subscription_id = subscription_id.lower()
        for subscription in self.subscriptions:
            if subscription.id.lower() == subscription_id:
                return subscription
        return None

    def assignments_of(self, object_id: str) -> list[RoleAssignment]:
        object_id = object_id.lower()
        return [a for a in self.role_assignments if a.object_id.lower() == object_id]


def object_id_for(client_id: str) -> str:
    """The object id of a principal configured without one."""
    return str(uuid.uuid5(_OBJECT_IDS, client_id.lower()))


def default() -> Directory:
    """One tenant, one principal that owns one subscription: enough to sign in locally."""
    tenant = Tenant(DEFAULT_TENANT, "compute-gallery", "computegallery.onmicrosoft.com")
    principal = Principal(
        DEFAULT_CLIENT_ID,
        object_id_for(DEFAULT_CLIENT_ID),
        DEFAULT_TENANT,
        DEFAULT_SECRET,
        "compute-gallery local",
    )
    subscription = Subscription(DEFAULT_SUBSCRIPTION, DEFAULT_TENANT, "compute-gallery local")
    owner = RoleAssignment(principal.object_id, "Owner", f"/subscriptions/{DEFAULT_SUBSCRIPTION}")
    return Directory((tenant,), (principal,), (subscription,), (owner,))


def load(path: Path) -> Directory:
    """Read and check a configuration file; DirectoryError says what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DirectoryError(f"{path}: cannot read it ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise DirectoryError(f"{path}: not valid TOML: {error}") from None
    try:
        return _parse(data, path)
    except DirectoryError as error:
        raise DirectoryError(f"{path}: {error}") from None


def _parse(data: dict[str, Any], path: Path) -> Directory:
    unknown = set(data) - {"tenants", "principals", "subscriptions", "role_assignments", "tokens"}
    if unknown:
        raise DirectoryError(f"unknown section {sorted(unknown)[0]!r}")
    tenants = tuple(
        Tenant(
            _guid(entry, "id", f"tenants[{i}]"),
            _text(entry, "display_name", f"tenants[{i}]", "Default Directory"),
            _text(entry, "default_domain", f"tenants[{i}]", f"tenant{i}.onmicrosoft.com"),
        )
        for i, entry in enumerate(_tables(data, "tenants"))
    )
    if not tenants:
        raise DirectoryError("at least one [[tenants]] entry is required")

    def tenant_of(entry: dict[str, Any], where: str) -> str:
        value = entry.get("tenant")
        if value is None:
            return tenants[0].id
        for tenant in tenants:
            if isinstance(value, str) and value.lower() in (
                tenant.id.lower(),
                tenant.default_domain.lower(),
            ):
                return tenant.id
        raise DirectoryError(f"{where}.tenant: {value!r} is not one of the [[tenants]]")

    principals: list[Principal] = []
    for i, entry in enumerate(_tables(data, "principals")):
        where = f"principals[{i}]"
        client_id = _guid(entry, "client_id", where)
        secret = _text(entry, "secret", where, None)
        if not secret:
            raise DirectoryError(f"{where}.secret: required, and not empty")
        object_id = _guid(entry, "object_id", where, object_id_for(client_id))
        principals.append(
            Principal(
                client_id,
                object_id,
                tenant_of(entry, where),
                secret,
                _text(entry, "display_name", where, client_id),
            )
        )
    subscriptions = tuple(
        Subscription(
            _guid(entry, "id", f"subscriptions[{i}]"),
            tenant_of(entry, f"subscriptions[{i}]"),
            _text(entry, "display_name", f"subscriptions[{i}]", "Subscription"),
        )
        for i, entry in enumerate(_tables(data, "subscriptions"))
    )
    assignments = tuple(
        _assignment(entry, f"role_assignments[{i}]", principals)
        for i, entry in enumerate(_tables(data, "role_assignments"))
    )
    tokens = data.get("tokens", {})
    if not isinstance(tokens, dict) or set(tokens) - {"lifetime_seconds"}:
        raise DirectoryError("[tokens] takes only lifetime_seconds")
    lifetime = tokens.get("lifetime_seconds", DEFAULT_LIFETIME_SECONDS)
    if not isinstance(lifetime, int) or isinstance(lifetime, bool) or not 60 <= lifetime <= 86400:
        raise DirectoryError("tokens.lifetime_seconds: a whole number from 60 to 86400")
    _unique("tenants", "id", [tenant.id for tenant in tenants])
    _unique("principals", "client_id", [principal.client_id for principal in principals])
    _unique("subscriptions", "id", [subscription.id for subscription in subscriptions])
    return Directory(tenants, tuple(principals), subscriptions, assignments, lifetime, path)


def _unique(name: str, key: str, values: list[str]) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value.lower() in seen:
            raise DirectoryError(f"{name}[{i}].{key}: {value} appears twice")
        seen.add(value.lower())


def _assignment(entry: dict[str, Any], where: str, principals: list[Principal]) -> RoleAssignment:
    name = _text(entry, "principal", where, None)
    if not name:
        raise DirectoryError(f"{where}.principal: required")
    object_id = None
    for principal in principals:
        if name.lower() in (principal.client_id.lower(), principal.object_id.lower()):
            object_id = principal.object_id
    if object_id is None:
        if not _GUID.match(name):
            raise DirectoryError(
                f"{where}.principal: {name!r} is neither a configured principal nor an object id"
            )
        object_id = name  # a principal of an external issuer, known by its object id
    role = _text(entry, "role", where, None) or ""
    canonical = {known.lower(): known for known in ROLES}.get(role.lower())
    if canonical is None:
        raise DirectoryError(f"{where}.role: {role!r} is not one of {', '.join(ROLES)}")
    scope = _text(entry, "scope", where, None)
    if not scope or not scope.startswith("/"):
        raise DirectoryError(f"{where}.scope: an ARM scope such as /subscriptions/<id> is required")
    if scope != "/" and not re.match(r"^/subscriptions/[0-9a-fA-F-]{36}(/|$)", scope):
        raise DirectoryError(f"{where}.scope: {scope!r} is not '/' or under /subscriptions/<id>")
    return RoleAssignment(object_id, canonical, scope.rstrip("/") or "/")


_KEYS = {
    "tenants": {"id", "display_name", "default_domain"},
    "principals": {"client_id", "secret", "object_id", "tenant", "display_name"},
    "subscriptions": {"id", "tenant", "display_name"},
    "role_assignments": {"principal", "role", "scope"},
}


def _tables(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise DirectoryError(f"{name}: use [[{name}]] tables")
    for i, entry in enumerate(value):
        unknown = set(entry) - _KEYS[name]
        if unknown:
            raise DirectoryError(
                f"{name}[{i}]: unknown key {sorted(unknown)[0]!r} "
                f"(known: {', '.join(sorted(_KEYS[name]))})"
            )
    return value


def _text(entry: dict[str, Any], key: str, where: str, default: str | None) -> str:
    value = entry.get(key, default)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DirectoryError(f"{where}.{key}: a string is required")
    return value


def _guid(entry: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if not isinstance(value, str) or not _GUID.match(value):
        raise DirectoryError(f"{where}.{key}: a GUID such as {uuid.UUID(int=1)} is required")
    return value
