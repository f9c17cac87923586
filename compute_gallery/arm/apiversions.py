"""Which api-versions each provider accepts, and ARM's errors for the others."""

from __future__ import annotations

import re

from . import errors, locations

# The Microsoft.Resources versions of the resource-group API that clients send: every
# azure-mgmt-resource default since 2016 (the current one, 2025-04-01, included) and the
# versions the Azure CLI pins. Resource groups did not change shape across them.
RESOURCES_API_VERSIONS: tuple[str, ...] = (
    "2015-11-01",
    "2016-02-01",
    "2016-07-01",
    "2016-09-01",
    "2017-05-10",
    "2018-02-01",
    "2018-05-01",
    "2019-03-01",
    "2019-05-01",
    "2019-05-10",
    "2019-07-01",
    "2019-08-01",
    "2019-10-01",
    "2020-06-01",
    "2020-08-01",
    "2020-10-01",
    "2021-01-01",
    "2021-04-01",
    "2022-09-01",
    "2023-07-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-03-01",
    "2025-04-01",
)

_WELL_FORMED = re.compile(r"^\d{4}-\d{2}-\d{2}(-(preview|alpha|beta|privatepreview))?$")


def require(query_value: str | None) -> str:
    """The request's api-version, or ARM's error when it is missing."""
    if not query_value:
        raise errors.MissingApiVersionParameter(
            "The api-version query parameter (?api-version=) is required for all requests."
        )
    return query_value


def check_resources(api_version: str) -> None:
    """Resource groups: ARM itself answers, listing the versions it supports."""
    check_listed(api_version, RESOURCES_API_VERSIONS)


def check_listed(api_version: str, supported: tuple[str, ...]) -> None:
    """An ARM-served type with its own list of versions (subscriptions, tenants)."""
    if api_version not in supported:
        raise errors.InvalidApiVersionParameter(
            f"The api-version '{api_version}' is invalid. The supported versions are "
            f"'{','.join(reversed(supported))}'. The supported api-versions are listed in "
            "https://aka.ms/arm-api-versions."
        )


def check_compute(
    api_version: str, supported: tuple[str, ...], resource_type: str, location: str
) -> None:
    """Compute types: a malformed version is ARM's error, an unknown one the provider's."""
    if api_version in supported:
        return
    if not _WELL_FORMED.match(api_version):
        raise errors.InvalidApiVersionParameter(
            f"The api-version '{api_version}' is invalid. The supported versions are "
            f"'{','.join(reversed(supported))}'."
        )
    if api_version not in supported:
        raise errors.NoRegisteredProviderFound(
            f"No registered resource provider found for location '{location}' and API version "
            f"'{api_version}' for type '{resource_type}'. The supported api-versions are "
            f"'{', '.join(reversed(supported))}'. The supported locations are "
            f"'{', '.join(locations.names())}'."
        )
