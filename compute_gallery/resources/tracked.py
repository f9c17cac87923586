"""The lifecycle every Microsoft.Compute gallery resource shares: PUT, GET, PATCH, DELETE, list.

Each resource type subclasses ``ComputeResource`` and supplies its names and its rules
(``prepare``); the order of checks is the one Azure applies: resource group, parent, body,
fields, then conflicts with the stored resource. Every check that depends on stored state
runs inside the write transaction, so concurrent requests cannot both pass it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from .. import schema
from ..arm import apiversions, errors, lro
from ..arm.ids import ResourceId, resource_id
from ..arm.locations import Region
from ..arm.request import ArmRequest, Reply
from ..operations.runner import preempt, succeed
from ..storage import Operation, Record, Transaction
from . import common

if TYPE_CHECKING:
    from ..service import Service

PROVISION_KIND = "provision"
DELETE_KIND = "delete"


class ComputeResource:
    """One Microsoft.Compute resource type; instances are stateless handler sets."""

    type: ClassVar[str]
    # How ARM names the type in api-version errors: "galleries/applications".
    type_name: ClassVar[str]
    model: ClassVar[str]
    # The root of JSON paths in error targets: "galleryApplicationVersion".
    root: ClassVar[str]
    # Whether PUT and PATCH run as long-running operations with a provisioningState.
    long_running: ClassVar[bool] = True
    # Top-level members besides location, tags and properties that the type stores.
    extras: ClassVar[tuple[str, ...]] = ()

    # -- what subclasses supply -----------------------------------------------------------

    @staticmethod
    def resource_id(request: ArmRequest) -> ResourceId:
        """The resource a request names; for a list, the parent whose children it lists."""
        params = request.params
        return resource_id(
            params["subscriptionid"],
            params["resourcegroupname"],
            params.get("galleryname"),
            params.get("galleryapplicationname"),
            params.get("galleryapplicationversionname"),
        )

    def check_name(self, rid: ResourceId) -> None:
        """Refuse a name the type does not allow (InvalidParameter on the name parameter)."""

    def prepare(
        self,
        request: ArmRequest,
        rid: ResourceId,
        body: dict[str, Any],
        region: Region,
        existing: Record | None,
    ) -> dict[str, Any]:
        """Apply the type's rules to a validated body; return the ``properties`` to store.

        ``body`` is the caller's own (validated or merged for this write): it may be changed.
        """
        raise NotImplementedError

    def extra(self, request: ArmRequest, record: Record, shaped: dict[str, Any]) -> None:
        """Add what a GET computes rather than stores (``$expand`` results)."""

    # -- shared behaviour ------------------------------------------------------------------

    @property
    def update_model(self) -> str:
        return self.model + "Update"

    def check_api_version(self, request: ArmRequest, location: str) -> None:
        apiversions.check_compute(
            request.api_version, schema.API_VERSIONS, self.type_name, location
        )

    def shape(self, record: Record, api_version: str) -> dict[str, Any]:
        return schema.shape(record.body, api_version, self.model)

    def _lro_reply(
        self, service: Service, request: ArmRequest, status: int, body: Any, op: Operation | None
    ) -> Reply:
        if op is None:
            return Reply(status, body)
        if not op.finished:
            service.runner.submit(op)
        return Reply(
            status, body, lro.headers(request.base_url, op, service.settings, method=request.method)
        )

    async def create_or_update(self, service: Service, request: ArmRequest) -> Reply:
        rid = self.resource_id(request)
        api_version = request.api_version

        def write(tx: Transaction) -> tuple[bool, Record, Operation | None]:
            self._require_ancestors(tx, rid)
            self.check_name(rid)
            body = common.body_object(request)
            region = common.location_of(body, self.type)
            tags = common.check_tags(body.get("tags"))
            # The schema does not require the properties envelope, but what it holds is
            # required all the same: validate an absent one as empty.
            if body.get("properties") is None and all(
                key.lower() != "properties" or value is None for key, value in body.items()
            ):
                body["properties"] = {}
            clean = schema.validate(body, api_version, self.model, self.root)
            existing = tx.get(rid.key)
            latest = None
            if existing is not None:
                latest = self._check_replaceable(tx, existing, region)
                common.preserve_unknown(existing.body, clean, api_version, self.model)
            properties = self.prepare(request, rid, clean, region, existing)
            return self._store(
                service, tx, rid, region, tags, clean, properties, existing, latest, api_version
            )

        created, record, op = await service.store.write(write)
        return self._lro_reply(
            service, request, 201 if created else 200, self.shape(record, api_version), op
        )

    async def update(self, service: Service, request: ArmRequest) -> Reply:
        rid = self.resource_id(request)
        api_version = request.api_version
        if not schema.has_model(api_version, self.update_model):
            raise errors.MethodNotAllowed(
                f"The requested resource does not support http method 'PATCH' in api-version "
                f"'{api_version}'."
            )

        def write(tx: Transaction) -> tuple[bool, Record, Operation | None]:
            self._require_ancestors(tx, rid)
            existing = tx.get(rid.key)
            if existing is None:
                raise common.resource_not_found(rid)
            body = common.body_object(request)
            if "tags" in body:
                common.check_tags(body["tags"])
            clean = schema.validate(body, api_version, self.update_model, self.root, partial=True)
            merged = common.merge_patch(existing.body, clean)
            region = common.location_of(existing.body, self.type)
            latest = self._check_replaceable(tx, existing, region)
            properties = self.prepare(request, rid, merged, region, existing)
            tags = merged.get("tags") or None
            return self._store(
                service, tx, rid, region, tags, merged, properties, existing, latest, api_version
            )

        _, record, op = await service.store.write(write)
        return self._lro_reply(service, request, 200, self.shape(record, api_version), op)

    async def get(self, service: Service, request: ArmRequest) -> Reply:
        rid = self.resource_id(request)
        record = await service.store.get(rid.key)
        if record is None:
            raise await self._missing(service, rid)
        shaped = self.shape(record, request.api_version)
        self.extra(request, record, shaped)
        return Reply(200, shaped)

    async def delete(self, service: Service, request: ArmRequest) -> Reply:
        rid = self.resource_id(request)

        def write(tx: Transaction) -> Operation | None:
            existing = tx.get(rid.key)
            if existing is None:
                error = _missing_in(tx, rid)
                if isinstance(error, errors.ResourceNotFound):
                    return None
                raise error
            child = tx.first_child(rid.key)
            if child is not None:
                raise errors.CannotDeleteResource(
                    "Cannot delete resource while nested resources exist. Some existing nested "
                    f"resource IDs include: '{child.id}'. Please delete all nested resources "
                    "before deleting this resource."
                )
            preempt(tx, existing.operation_id)
            op = common.new_operation(
                service, rid, DELETE_KIND, existing.body["location"], request.api_version
            )
            if self.long_running:
                existing.body["properties"]["provisioningState"] = "Deleting"
            existing.operation_id = op.id
            tx.put(existing)
            tx.put_operation(op)
            return op

        op = await service.store.write(write)
        if op is None:
            return Reply(204)
        return self._lro_reply(service, request, 202, None, op)

    async def list(self, service: Service, request: ArmRequest) -> Reply:
        parent = self.resource_id(request)
        limit = common.page_limit(request, service.settings.page_size)
        records = await service.store.list_children(
            parent.key, self.type.lower(), common.skip_token(request), limit + 1
        )
        if not records and await service.store.get(parent.key) is None:
            raise await self._missing(service, parent)
        body: dict[str, Any] = {
            "value": [self.shape(record, request.api_version) for record in records[:limit]]
        }
        if len(records) > limit:
            body["nextLink"] = common.next_link(request, records[limit - 1].key, limit)
        return Reply(200, body)

    # -- jobs ------------------------------------------------------------------------------

    async def provision(self, service: Service, op: Operation) -> None:
        """The job behind Creating and Updating."""
        await self.run_provision(service, op)

    async def deprovision(self, service: Service, op: Operation) -> None:
        """The job behind Deleting."""
        await self.run_delete(service, op)

    @staticmethod
    async def run_provision(service: Service, op: Operation) -> None:
        """The work behind Creating/Updating; here, the state transition to Succeeded."""

        def write(tx: Transaction) -> None:
            record = tx.get(op.resource_key)
            if record is not None and record.operation_id == op.id:
                record.body["properties"]["provisioningState"] = "Succeeded"
                tx.put(record)
            succeed(tx, op.id)

        await service.store.write(write)

    @staticmethod
    async def run_delete(service: Service, op: Operation) -> None:
        def write(tx: Transaction) -> None:
            record = tx.get(op.resource_key)
            if record is not None and record.operation_id == op.id:
                tx.delete(op.resource_key)
            succeed(tx, op.id)

        await service.store.write(write)

    # -- helpers ---------------------------------------------------------------------------

    def _require_ancestors(self, tx: Transaction, rid: ResourceId) -> None:
        common.require_group(tx, rid)
        if rid.parent.gallery is not None:
            parent = common.require_parent(tx, rid)
            # A child written while its parent's deletion runs would outlive the parent.
            if _deleting(_latest_operation(tx, parent)):
                raise errors.OperationNotAllowed(
                    f"The operation is not allowed on '{rid.name}' since its parent "
                    f"'{parent.body['name']}' is marked for deletion."
                )

    def _check_replaceable(
        self, tx: Transaction, existing: Record, region: Region
    ) -> Operation | None:
        """Refuse to replace a resource being deleted or moved; return its latest operation."""
        latest = _latest_operation(tx, existing)
        if _deleting(latest):
            raise errors.OperationNotAllowed(
                f"The operation is not allowed on '{existing.body['name']}' since it is marked "
                "for deletion. Wait for the deletion to finish, then create it again."
            )
        if existing.body["location"] != region.name:
            self.location_changed(existing, region)
        return latest

    def location_changed(self, existing: Record, region: Region) -> None:
        """A nested resource's location is a property Compute refuses to change."""
        target = f"{self.root}.location"
        raise errors.PropertyChangeNotAllowed(
            f"Changing property '{target}' is not allowed.", target=target
        )

    def _store(
        self,
        service: Service,
        tx: Transaction,
        rid: ResourceId,
        region: Region,
        tags: dict[str, str] | None,
        body: dict[str, Any],
        properties: dict[str, Any],
        existing: Record | None,
        latest: Operation | None,
        api_version: str,
    ) -> tuple[bool, Record, Operation | None]:
        """Store the resource, and the operation that provisions it; ``latest`` is the
        existing resource's latest operation as read in this transaction."""
        op = None
        if self.long_running:
            op = common.new_operation(service, rid, PROVISION_KIND, region.name, api_version)
            properties["provisioningState"] = "Creating" if existing is None else "Updating"
        if latest is not None and not latest.finished:
            preempt(tx, latest.id)
        resource = common.envelope(rid, region.name, tags, properties)
        for name in self.extras:
            if body.get(name) is not None:
                resource[name] = body[name]
        record = common.record_of(rid, resource, op.id if op else None)
        if op is not None and self.provisions_at_once(service, resource):
            # Work that takes no time and only changes state ends in the transaction that
            # starts it: one write instead of two. The reply still shows Creating or
            # Updating, Azure's first answer; the first poll finds the operation Succeeded.
            # The stored body shares all but its top two levels with the reply's, which
            # nothing changes once the store has it.
            done = {**resource, "properties": {**properties, "provisioningState": "Succeeded"}}
            tx.put(common.record_of(rid, done, op.id))
            op.status, op.end_time = "Succeeded", op.start_time
        else:
            tx.put(record)
        if op is not None:
            tx.put_operation(op)
        return existing is None, record, op

    def provisions_at_once(self, service: Service, resource: dict[str, Any]) -> bool:
        """Whether a PUT's or PATCH's operation has nothing to wait for or to do."""
        return service.settings.operation_seconds <= 0

    async def _missing(self, service: Service, rid: ResourceId) -> errors.ArmError:
        return await service.store.write(lambda tx: _missing_in(tx, rid))


def _latest_operation(tx: Transaction, record: Record) -> Operation | None:
    """The operation that last changed the resource, if it is still stored."""
    if record.operation_id is None:
        return None
    return tx.get_operation(record.operation_id)


def _deleting(op: Operation | None) -> bool:
    """Whether a resource's latest operation is a deletion still running.

    Applications have no provisioningState to say so, hence the operation itself.
    """
    return op is not None and op.kind == DELETE_KIND and not op.finished


def _missing_in(tx: Transaction, rid: ResourceId) -> errors.ArmError:
    return common.missing_resource_error(tx, rid)
