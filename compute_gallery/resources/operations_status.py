"""The operation-status (``capsOperations``) and monitor endpoints the LRO headers point at."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import schema
from ..arm import errors, lro
from ..arm.request import ArmRequest, Reply
from ..storage import Operation
from .tracked import DELETE_KIND, PROVISION_KIND

if TYPE_CHECKING:
    from ..service import Service


async def get(service: Service, request: ArmRequest) -> Reply:
    """Status: always 200 with the status body. Monitor (``monitor=true``): 202 while the
    operation runs; then what the original request would have answered synchronously."""
    operation_id = request.params["operationid"]
    op = await service.store.get_operation(operation_id)
    if op is None or op.subscription.lower() != request.params["subscriptionid"].lower():
        raise errors.ArmError(
            f"The operation '{operation_id}' could not be found.", code="NotFound", status=404
        )
    if (request.flag("monitor") or "").lower() != "true":
        headers = {} if op.finished else lro.poll_headers(service.settings, op)
        return Reply(200, lro.status_body(request.base_url, op), headers)

    if not op.finished:
        return Reply(202, None, lro.headers(request.base_url, op, service.settings, method="GET"))
    if op.error is not None:
        raise errors.ArmError(op.error["message"], code=op.error["code"], status=_status(op))
    if op.kind == DELETE_KIND:
        return Reply(200)
    assert op.kind == PROVISION_KIND
    record = await service.store.get(op.resource_key)
    if record is None:
        raise errors.ResourceNotFound(
            f"The resource '{op.resource_id}' the operation '{op.id}' created no longer exists."
        )
    resource = service.resource_for(record.type)
    return Reply(200, schema.shape(record.body, op.api_version, resource.model))


def _status(op: Operation) -> int:
    """The status the synchronous request would have failed with."""
    if op.status == "Canceled":
        return 409
    assert op.error is not None
    return 500 if op.error["code"].startswith("Internal") else 400
