"""Storage: one narrow interface for resources and long-running operations.

Reads are single look-ups or pages. Every write is a function run against a
``Transaction``: the store runs it atomically and serially with respect to every other
write to the same data, so a rule checked inside it (a parent exists, a name is free, a
resource has no children) still holds when its writes become visible. A write that raises
leaves nothing behind. Implementations: ``sqlite`` (default, on disk or in memory) and
``postgres`` (one database shared by several instances).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class Record:
    """One stored ARM resource.

    ``key`` is the resource id lower-cased (ARM ids compare case-insensitively);
    ``id`` keeps the casing of the latest PUT. ``body`` is the resource as the newest
    api-version shapes it: responses are cut down from it per version. A member no schema
    knows never reaches a response; application versions keep their replication state in
    one (``properties._replication``).
    """

    key: str
    id: str
    type: str
    parent_key: str
    subscription: str
    body: dict[str, Any]
    # The operation that last changed the resource; a job only finishes its own.
    operation_id: str | None = None


@dataclass(slots=True)
class Operation:
    """A long-running operation: the durable job behind an Azure-AsyncOperation URL."""

    id: str
    kind: str
    subscription: str
    location: str
    resource_key: str
    resource_id: str
    api_version: str
    status: str = "InProgress"
    start_time: str = ""
    end_time: str | None = None
    error: dict[str, Any] | None = None
    due: float = 0.0
    payload: dict[str, Any] = field(default_factory=dict)
    # The instance running the operation, the fencing token of its claim (it grows with each
    # claim, so a write by an earlier holder can be told apart), and when the claim lapses
    # unless renewed (epoch seconds). See ``operations.leases``.
    owner: str | None = None
    lease: int = 0
    lease_until: float = 0.0

    @property
    def finished(self) -> bool:
        return self.status != "InProgress"


class Unavailable(Exception):
    """The store cannot be reached now (its database is down or unreachable); retry later."""


class SchemaTooNew(RuntimeError):
    """The store was written by a newer release, whose data this one must not change."""


class InUse(RuntimeError):
    """Another process has the store open, and the store must have one user only."""


class Transaction(Protocol):
    """What a write function may do. Every call sees the transaction's own writes."""

    def get(self, key: str) -> Record | None: ...

    def put(self, record: Record) -> None: ...

    def delete(self, key: str) -> None:
        """Delete one resource (not its descendants)."""

    def delete_tree(self, key: str) -> int:
        """Delete a resource and every resource below it; return how many were removed."""

    def first_child(self, key: str) -> Record | None:
        """Any one resource directly below ``key``, or None."""

    def get_operation(self, operation_id: str) -> Operation | None: ...

    def put_operation(self, operation: Operation) -> None: ...


class Store(Protocol):
    """A place resources and operations live."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, key: str) -> Record | None: ...

    async def list_children(
        self, parent_key: str, type_: str, after: str | None, limit: int
    ) -> list[Record]:
        """Resources of ``type_`` directly below ``parent_key``, ordered by key, after ``after``."""

    async def list_by_subscription(
        self, subscription: str, type_: str, after: str | None, limit: int
    ) -> list[Record]:
        """Resources of ``type_`` anywhere in a subscription, ordered by key."""

    async def get_operation(self, operation_id: str) -> Operation | None: ...

    def new_operation_id(self) -> str:
        """An id for a new operation, of the kind this store's indexes take best."""

    async def unfinished_operations(self) -> list[Operation]:
        """Every operation still InProgress, oldest due first: the runner's work after a start."""

    async def write(self, fn: Callable[[Transaction], T]) -> T:
        """Run ``fn`` atomically; return its result or raise what it raised, writing nothing.

        ``fn`` runs in the caller's context (its context variables), and may run more than
        once: a store may roll it back and run it again when a concurrent write conflicts. It
        must therefore act only through ``tx`` and change nothing outside it.
        """

    async def prune_operations(self, finished_before: float) -> int:
        """Forget finished operations whose end is older than ``finished_before`` (epoch)."""

    async def check(self) -> None:
        """Raise ``Unavailable`` unless the store can serve requests now (readiness)."""
