"""Leases: each unfinished operation runs on one instance at a time, which keeps renewing it.

An operation names its ``owner`` (an instance), a fencing token (``lease``, one more at every
claim) and when the claim lapses unless renewed (``lease_until``). The instance that creates
an operation owns it from the start; its runner renews the claims of everything it runs and
gives them up at a clean stop. Another instance takes over an operation whose claim lapsed
(its owner died, or lost the database) and runs its job again from the start: jobs are
idempotent.

Fencing: the runner runs each job with its lease in a context variable, which every write the
job makes carries (``Store.write`` runs write functions in their caller's context), and
``runner.current`` refuses the job an operation whose stored owner or token differ from the
job's. A job whose instance was frozen past the lapse and then woke up therefore changes
nothing. The runner also stops a job itself once its claim may have lapsed without a renewal,
so that the job's other work does not go on beside the new owner's either. Lease times are
the instances' wall clocks, which must agree to well within a lease (NTP does).

These functions run inside write transactions; each re-reads what it changes, so two
instances claiming one operation at once cannot both get it.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass

from ..storage import Operation, Transaction

DEFAULT_LEASE_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class Lease:
    """One instance's claim on one operation, as it was when the job started."""

    operation_id: str
    owner: str
    token: int


_running: ContextVar[Lease | None] = ContextVar("compute_gallery_running_lease", default=None)


def run_under(lease: Lease) -> None:
    """Mark the current context (a job's task) as running under ``lease``."""
    _running.set(lease)


def allows(op: Operation) -> bool:
    """Whether the current context may change ``op``.

    Requests may end any operation (a newer request preempts an older one wherever it runs);
    a job may change its own operation only while its claim stands.
    """
    lease = _running.get()
    if lease is None or lease.operation_id != op.id:
        return True
    return op.owner == lease.owner and op.lease == lease.token


def claimable(op: Operation, owner: str, now: float, *, own_too: bool = False) -> bool:
    """Whether ``owner`` may claim ``op``: unclaimed or lapsed; ``own_too`` for an instance that
    has just started and finds claims of its own from an earlier run (same owner name)."""
    if op.finished:
        return False
    if op.owner is None or op.lease_until <= now:
        return True
    return own_too and op.owner == owner


def claim(
    tx: Transaction, ids: Iterable[str], owner: str, now: float, until: float, *, own_too: bool
) -> list[tuple[Operation, str | None]]:
    """Claim every operation of ``ids`` that is still claimable; each with its former owner."""
    claimed = []
    for operation_id in ids:
        op = tx.get_operation(operation_id)
        if op is None or not claimable(op, owner, now, own_too=own_too):
            continue
        former = op.owner
        op.owner, op.lease, op.lease_until = owner, op.lease + 1, until
        tx.put_operation(op)
        claimed.append((op, former))
    return claimed


def renew(tx: Transaction, held: Iterable[Lease], until: float) -> set[str]:
    """Extend every claim still held to ``until``; return the ids of those no longer held
    (the operation ended, or another instance took it over)."""
    lost = set()
    for lease in held:
        op = tx.get_operation(lease.operation_id)
        if op is None or op.finished or (op.owner, op.lease) != (lease.owner, lease.token):
            lost.add(lease.operation_id)
            continue
        op.lease_until = until
        tx.put_operation(op)
    return lost


def release(tx: Transaction, held: Iterable[Lease]) -> int:
    """Give up the claims still held, so that another instance may take them at once."""
    released = 0
    for lease in held:
        op = tx.get_operation(lease.operation_id)
        if op is None or op.finished or (op.owner, op.lease) != (lease.owner, lease.token):
            continue
        op.owner, op.lease_until = None, 0.0
        tx.put_operation(op)
        released += 1
    return released
