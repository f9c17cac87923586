"""The SDK's create-to-Succeeded latency, against its own ``get()`` round trip in the same run."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.pipeline import PipelineResponse
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import (
    GalleryApplicationVersion,
    GalleryApplicationVersionProperties,
    GalleryApplicationVersionPublishingProfile,
    UserArtifactManage,
    UserArtifactSource,
)

from .seed import APPLICATION, GALLERY, GROUP, LOCATION, SUBSCRIPTION

TARGET_MEDIAN_MS = 25.0
_WARMUP = 10


class StubCredential:
    """A credential for the SDK: the service accepts any well-formed bearer token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("bench-token", int(time.time()) + 3600)


@dataclass
class Latency:
    """Create-to-Succeeded and get() times in milliseconds, and HTTP requests per create."""

    create_ms: list[float] = field(default_factory=list)
    get_ms: list[float] = field(default_factory=list)
    requests_per_create: list[int] = field(default_factory=list)

    @property
    def create_median(self) -> float:
        return statistics.median(self.create_ms)

    @property
    def get_median(self) -> float:
        return statistics.median(self.get_ms)

    @property
    def ratio(self) -> float:
        return self.create_median / self.get_median

    @property
    def verdict(self) -> str:
        return "PASS" if self.create_median <= TARGET_MEDIAN_MS else "FAIL"

    def to_json(self) -> dict[str, Any]:
        return {
            "count": len(self.create_ms),
            "create_median_ms": round(self.create_median, 2),
            "create_p95_ms": round(percentile(self.create_ms, 95), 2),
            "get_median_ms": round(self.get_median, 2),
            "get_p95_ms": round(percentile(self.get_ms, 95), 2),
            "create_to_get_ratio": round(self.ratio, 2),
            "requests_per_create_median": statistics.median(self.requests_per_create),
            "target_create_median_ms": TARGET_MEDIAN_MS,
            "verdict": self.verdict,
        }


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def _version(media_link: str) -> GalleryApplicationVersion:
    return GalleryApplicationVersion(
        location=LOCATION,
        properties=GalleryApplicationVersionProperties(
            publishing_profile=GalleryApplicationVersionPublishingProfile(
                source=UserArtifactSource(media_link=media_link),
                manage_actions=UserArtifactManage(
                    install="bash install.sh", remove="bash remove.sh"
                ),
            )
        ),
    )


def measure(endpoint: str, ca_cert: str, count: int, media_link: str) -> Latency:
    """Create ``count`` distinct versions one after another, each followed by a get()."""
    responses = 0

    def count_response(_: PipelineResponse[Any, Any]) -> None:
        nonlocal responses
        responses += 1

    client = ComputeManagementClient(
        StubCredential(),
        SUBSCRIPTION,
        base_url=endpoint,
        connection_verify=ca_cert,
        raw_response_hook=count_response,
    )
    versions = client.gallery_application_versions
    latency = Latency()
    with client:
        for index in range(-_WARMUP, count):
            name = f"2.{index + _WARMUP}.0"
            responses = 0
            started = time.perf_counter()
            created = versions.begin_create_or_update(
                GROUP, GALLERY, APPLICATION, name, _version(media_link)
            ).result()
            create_ms = (time.perf_counter() - started) * 1000
            create_requests = responses
            state = created.properties.provisioning_state if created.properties else None
            if state != "Succeeded":
                raise RuntimeError(f"version {name} ended {state}")

            started = time.perf_counter()
            versions.get(GROUP, GALLERY, APPLICATION, name)
            get_ms = (time.perf_counter() - started) * 1000
            if index >= 0:
                latency.create_ms.append(create_ms)
                latency.get_ms.append(get_ms)
                latency.requests_per_create.append(create_requests)
    return latency
