"""Resource groups (Microsoft.Resources): ARM's own containers, enough for SDKs and the CLI.

Creating and updating are synchronous, as in ARM; deleting is long-running and removes
everything the group contains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..arm import errors, lro
from ..arm.ids import RESOURCE_GROUP_TYPE, ResourceId, check_resource_group_name, resource_id
from ..arm.request import ArmRequest, Reply
from ..operations.runner import preempt, succeed
from ..storage import Operation, Record, Transaction
from . import common

if TYPE_CHECKING:
    from ..service import Service

DELETE_KIND = "deleteResourceGroup"


def _rid(request: ArmRequest) -> ResourceId:
    return resource_id(request.params["subscriptionid"], request.params["resourcegroupname"])


def _response(record: Record) -> dict[str, Any]:
    return record.body


async def create_or_update(service: Service, request: ArmRequest) -> Reply:
    rid = _rid(request)
    check_resource_group_name(rid.name)
    body = common.body_object(request)
    region = common.location_of(body, RESOURCE_GROUP_TYPE)
    tags = common.check_tags(body.get("tags"))
    managed_by = _managed_by(body)

    def write(tx: Transaction) -> tuple[bool, Record]:
        existing = tx.get(rid.key)
        if existing is not None:
            if existing.body["properties"]["provisioningState"] == "Deleting":
                raise _being_deleted(existing)
            if existing.body["location"] != region.name:
                raise errors.ArmError(
                    f"Invalid resource group location '{region.name}'. The Resource group "
                    f"already exists in location '{existing.body['location']}'.",
                    code="InvalidResourceGroupLocation",
                    status=409,
                )
        resource: dict[str, Any] = {
            "id": rid.id,
            "name": rid.name,
            "type": RESOURCE_GROUP_TYPE,
            "location": region.name,
        }
        if managed_by:
            resource["managedBy"] = managed_by
        if tags is not None:
            resource["tags"] = tags
        resource["properties"] = {"provisioningState": "Succeeded"}
        record = common.record_of(rid, resource, None)
        tx.put(record)
        return existing is None, record

    created, record = await service.store.write(write)
    return Reply(201 if created else 200, _response(record))


async def get(service: Service, request: ArmRequest) -> Reply:
    rid = _rid(request)
    record = await service.store.get(rid.key)
    if record is None:
        raise common.group_not_found(rid)
    return Reply(200, _response(record))


async def check_existence(service: Service, request: ArmRequest) -> Reply:
    record = await service.store.get(_rid(request).key)
    return Reply(204 if record is not None else 404)


async def update(service: Service, request: ArmRequest) -> Reply:
    """PATCH: tags (replaced whole) and managedBy; the location cannot change."""
    rid = _rid(request)
    body = common.body_object(request)
    tags = common.check_tags(body.get("tags"))
    managed_by = _managed_by(body)

    def write(tx: Transaction) -> Record:
        record = tx.get(rid.key)
        if record is None:
            raise common.group_not_found(rid)
        if record.body["properties"]["provisioningState"] == "Deleting":
            raise _being_deleted(record)
        if "tags" in body:
            if tags:
                record.body["tags"] = tags
            else:
                record.body.pop("tags", None)
        if managed_by:
            record.body["managedBy"] = managed_by
        tx.put(record)
        return record

    return Reply(200, _response(await service.store.write(write)))


async def delete(service: Service, request: ArmRequest) -> Reply:
    rid = _rid(request)

    def write(tx: Transaction) -> Operation:
        record = tx.get(rid.key)
        if record is None:
            raise common.group_not_found(rid)
        preempt(tx, record.operation_id)
        op = common.new_operation(
            service, rid, DELETE_KIND, record.body["location"], request.api_version
        )
        record.body["properties"]["provisioningState"] = "Deleting"
        record.operation_id = op.id
        tx.put(record)
        tx.put_operation(op)
        return op

    op = await service.store.write(write)
    service.runner.submit(op)
    return Reply(202, None, lro.headers(request.base_url, op, service.settings, method="DELETE"))


async def list_by_subscription(service: Service, request: ArmRequest) -> Reply:
    subscription = request.params["subscriptionid"]
    limit = common.page_limit(request, service.settings.page_size)
    records = await service.store.list_by_subscription(
        subscription.lower(), RESOURCE_GROUP_TYPE.lower(), common.skip_token(request), limit + 1
    )
    body: dict[str, Any] = {"value": [_response(r) for r in records[:limit]]}
    if len(records) > limit:
        body["nextLink"] = common.next_link(request, records[limit - 1].key, limit)
    return Reply(200, body)


async def operation_result(service: Service, request: ArmRequest) -> Reply:
    """ARM's monitor for a group deletion: 202 while it runs, 200 once it is gone."""
    op = await service.store.get_operation(request.params["operationid"])
    if op is None or op.kind != DELETE_KIND:
        raise errors.ArmError(
            f"The operation '{request.params['operationid']}' could not be found.",
            code="NotFound",
            status=404,
        )
    if not op.finished:
        return Reply(
            202, None, lro.headers(request.base_url, op, service.settings, method="DELETE")
        )
    if op.status != "Succeeded" and op.error is not None:
        raise errors.ArmError(op.error["message"], code=op.error["code"], status=500)
    return Reply(200)


async def run_delete(service: Service, op: Operation) -> None:
    """The deletion job: the group and everything in it go in one transaction."""

    def write(tx: Transaction) -> None:
        record = tx.get(op.resource_key)
        if record is not None and record.operation_id == op.id:
            tx.delete_tree(op.resource_key)
        succeed(tx, op.id)

    await service.store.write(write)


def _managed_by(body: dict[str, Any]) -> str | None:
    value = body.get("managedBy")
    if value is not None and not isinstance(value, str):
        raise errors.content_not_deserializable(
            f"Error converting value {value!r} to type 'System.String'. Path 'managedBy'."
        )
    return value


def _being_deleted(record: Record) -> errors.ArmError:
    return errors.ResourceGroupBeingDeleted(
        f"The resource group '{record.body['name']}' is in deprovisioning state and cannot "
        "perform this operation."
    )
