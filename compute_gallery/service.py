"""The service: settings, the store, the operation runner, and the ARM routes that use them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from functools import partial

from . import clock
from .arm.routing import Route, Router
from .identity.service import Identity
from .operations.runner import OperationRunner
from .replication.replicator import Replicator
from .resources import operations_status, providers, resource_groups, subscriptions
from .resources.galleries import Galleries
from .resources.gallery_application_versions import GalleryApplicationVersions
from .resources.gallery_applications import GalleryApplications
from .resources.tracked import DELETE_KIND, PROVISION_KIND, ComputeResource
from .settings import Settings
from .storage import Operation, Store, Unavailable
from .storage.sqlite import SqliteStore

log = logging.getLogger(__name__)

_SUB = "/subscriptions/{subscriptionId}"
_RG = _SUB + "/resourceGroups/{resourceGroupName}"
_GALLERIES = _RG + "/providers/Microsoft.Compute/galleries"
_APPLICATIONS = _GALLERIES + "/{galleryName}/applications"
_VERSIONS = _APPLICATIONS + "/{galleryApplicationName}/versions"
_PRUNE_EVERY_SECONDS = 3600.0
# How long a readiness check waits for the store.
_CHECK_SECONDS = 3.0


def _instance_name(settings: Settings) -> str:
    """How this instance signs the operations it runs.

    With SQLite the process is the store's only user, and a restarted one picks up its own
    operations at once. Instances sharing PostgreSQL each get a name no other one has had.
    """
    if not settings.database_url:
        return "local"
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def open_store(settings: Settings) -> Store:
    """The store the settings name: PostgreSQL, SQLite in the data directory, or in memory."""
    if settings.database_url:
        from .storage.postgres import PostgresStore

        return PostgresStore(
            settings.database_url,
            pool_size=settings.database_pool_size,
            wait_seconds=settings.database_wait_seconds,
        )
    if settings.in_memory:
        return SqliteStore(None)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteStore(settings.data_dir / "compute-gallery.db")


class Service:
    """Everything a request handler may use; one per process."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store if store is not None else open_store(settings)
        self.identity = Identity(settings)
        self.runner = OperationRunner(
            self.store, _instance_name(settings), settings.operation_lease_seconds
        )
        self.replication = Replicator(settings, self.store)
        self.galleries = Galleries()
        self.applications = GalleryApplications()
        self.versions = GalleryApplicationVersions(
            allow_file_sources=settings.replication.allow_file_sources
        )
        self.router = Router(self._routes())
        self.ready = False
        self._pruner: asyncio.Task[None] | None = None
        for kind, job in {
            PROVISION_KIND: _provision,
            DELETE_KIND: _deprovision,
            resource_groups.DELETE_KIND: _delete_group,
        }.items():
            self.runner.register(kind, partial(self._job, job))

    async def _job(self, job: object, op: Operation) -> None:
        await job(self, op)  # type: ignore[operator]

    def _routes(self) -> list[Route]:
        def compute(template: str, type_name: str, resource: ComputeResource) -> Route:
            return Route(
                template,
                "Microsoft.Compute",
                type_name,
                {
                    "PUT": resource.create_or_update,
                    "GET": resource.get,
                    "PATCH": resource.update,
                    "DELETE": resource.delete,
                },
            )

        return [
            *_directory_routes(),
            Route(
                _SUB + "/resourcegroups",
                "Microsoft.Resources",
                "resourceGroups",
                {"GET": resource_groups.list_by_subscription},
            ),
            Route(
                _RG,
                "Microsoft.Resources",
                "resourceGroups",
                {
                    "PUT": resource_groups.create_or_update,
                    "GET": resource_groups.get,
                    "HEAD": resource_groups.check_existence,
                    "PATCH": resource_groups.update,
                    "DELETE": resource_groups.delete,
                },
            ),
            Route(
                _SUB + "/operationresults/{operationId}",
                "Microsoft.Resources",
                "operationresults",
                {"GET": resource_groups.operation_result},
            ),
            Route(
                _SUB + "/providers/Microsoft.Compute/galleries",
                "Microsoft.Compute",
                "galleries",
                {"GET": self.galleries.list_by_subscription},
            ),
            Route(
                _SUB + "/providers/Microsoft.Compute/locations/{location}/capsOperations/"
                "{operationId}",
                "Microsoft.Compute",
                "locations/capsOperations",
                {"GET": operations_status.get},
            ),
            Route(_GALLERIES, "Microsoft.Compute", "galleries", {"GET": self.galleries.list}),
            compute(_GALLERIES + "/{galleryName}", "galleries", self.galleries),
            Route(
                _APPLICATIONS,
                "Microsoft.Compute",
                "galleries/applications",
                {"GET": self.applications.list},
            ),
            compute(
                _APPLICATIONS + "/{galleryApplicationName}",
                "galleries/applications",
                self.applications,
            ),
            Route(
                _VERSIONS,
                "Microsoft.Compute",
                "galleries/applications/versions",
                {"GET": self.versions.list},
            ),
            compute(
                _VERSIONS + "/{galleryApplicationVersionName}",
                "galleries/applications/versions",
                self.versions,
            ),
        ]

    async def start(self) -> None:
        await self.store.open()
        # Leftovers of interrupted replication go before the operations that made them resume.
        await self.replication.start()
        await self.runner.start()
        self._pruner = asyncio.get_running_loop().create_task(self._prune_forever())
        self.ready = True
        log.info(
            "service ready on %s", getattr(self.store, "description", type(self.store).__name__)
        )

    async def stop(self) -> None:
        self.ready = False
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
        await self.runner.stop()
        await self.replication.stop()
        await self.store.close()

    async def _prune_forever(self) -> None:
        while True:
            try:
                removed = await self.store.prune_operations(
                    clock.time() - self.settings.operation_retention_seconds
                )
            except Unavailable as error:
                log.warning("could not forget finished operations: %s", error)
            else:
                if removed:
                    log.info("forgot %d finished operations", removed)
            await asyncio.sleep(_PRUNE_EVERY_SECONDS)

    async def store_problem(self) -> str | None:
        """Why the store cannot serve requests now (unreachable), or None."""
        try:
            await asyncio.wait_for(self.store.check(), _CHECK_SECONDS)
        except Unavailable as error:
            return str(error)
        except TimeoutError:
            return f"the store did not answer within {_CHECK_SECONDS:g} s"
        return None

    def resource_for(self, stored_type: str) -> ComputeResource:
        """The resource type of a stored record (``record.type`` is lower-cased)."""
        for resource in (self.versions, self.applications, self.galleries):
            if resource.type.lower() == stored_type:
                return resource
        raise LookupError(stored_type)

    def resource_at(self, key: str) -> ComputeResource:
        """The resource type a gallery, application or version key names."""
        # /subscriptions/s/resourcegroups/g/providers/microsoft.compute/galleries/x[/...]
        depth = len(key.strip("/").split("/"))
        resources = {8: self.galleries, 10: self.applications, 12: self.versions}
        if depth not in resources:
            raise LookupError(key)
        return resources[depth]


async def _provision(service: Service, op: Operation) -> None:
    await service.resource_at(op.resource_key).provision(service, op)


async def _deprovision(service: Service, op: Operation) -> None:
    await service.resource_at(op.resource_key).deprovision(service, op)


async def _delete_group(service: Service, op: Operation) -> None:
    await resource_groups.run_delete(service, op)
    # The group's versions went with it; so do their replicas.
    await service.replication.forget(op.resource_key)


def _directory_routes() -> list[Route]:
    """Subscriptions, tenants and providers: what the Azure CLI reads around a sign-in."""
    return [
        Route(
            "/subscriptions",
            "Microsoft.Resources",
            "subscriptions",
            {"GET": subscriptions.list_subscriptions},
            api_versions=subscriptions.API_VERSIONS,
        ),
        Route(
            _SUB,
            "Microsoft.Resources",
            "subscriptions",
            {"GET": subscriptions.get_subscription},
            api_versions=subscriptions.API_VERSIONS,
        ),
        Route(
            "/tenants",
            "Microsoft.Resources",
            "tenants",
            {"GET": subscriptions.list_tenants},
            api_versions=subscriptions.API_VERSIONS,
        ),
        Route(
            _SUB + "/providers",
            "Microsoft.Resources",
            "providers",
            {"GET": providers.list_providers},
        ),
        Route(
            _SUB + "/providers/{resourceProviderNamespace}",
            "Microsoft.Resources",
            "providers",
            {"GET": providers.get_provider},
        ),
    ]
