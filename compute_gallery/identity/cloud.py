"""``GET /metadata/endpoints``: the cloud description ``az cloud register`` reads.

Like Azure Resource Manager, it answers without a token. The login endpoint is the
service's own origin, where the built-in issuer lives; the audiences are Azure's, so
tokens the CLI asks for pass strict validation unchanged.
"""

from __future__ import annotations

from typing import Any

from ..arm import apiversions, errors
from ..arm.request import Reply
from .issuer import ARM_AUDIENCES

# The shape changed twice: 2015-01-01 has a few flat fields, 2019-05-01 lists every cloud,
# 2022-09-01 (what the Azure CLI asks for) describes the one cloud the endpoint belongs to.
_LEGACY = "2015-01-01"
_LIST_UNTIL = "2022-09-01"


def metadata_endpoints(query: dict[str, str], base_url: str) -> Reply:
    api_version = apiversions.require(query.get("api-version"))
    if len(api_version) < 10 or not api_version[:10].replace("-", "").isdigit():
        raise errors.InvalidApiVersionParameter(f"The api-version '{api_version}' is invalid.")
    origin = f"{base_url}/"
    audiences = [ARM_AUDIENCES[0], ARM_AUDIENCES[2]]
    if api_version[:10] <= _LEGACY:
        return Reply(
            200,
            {
                "galleryEndpoint": origin,
                "graphEndpoint": "https://graph.windows.net/",
                "portalEndpoint": origin,
                "authentication": {"loginEndpoint": origin, "audiences": audiences},
            },
        )
    cloud: dict[str, Any] = {
        "portal": origin,
        "authentication": {
            "loginEndpoint": origin,
            "audiences": audiences,
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "media": "https://rest.media.azure.net",
        "graphAudience": "https://graph.windows.net/",
        "graph": "https://graph.windows.net/",
        "name": "compute-gallery",
        "suffixes": {
            "azureDataLakeStoreFileSystem": "azuredatalakestore.net",
            "acrLoginServer": "azurecr.io",
            "sqlServerHostname": "database.windows.net",
            "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
            "keyVaultDns": "vault.azure.net",
            "storage": "core.windows.net",
            "azureFrontDoorEndpointSuffix": "azurefd.net",
        },
        "batch": "https://batch.core.windows.net/",
        "resourceManager": origin,
        "vmImageAliasDoc": origin,
        "activeDirectoryDataLake": "https://datalake.azure.net/",
        "sqlManagement": "https://management.core.windows.net:8443/",
        "microsoftGraphResourceId": "https://graph.microsoft.com/",
        "appInsightsResourceId": "https://api.applicationinsights.io",
        "appInsightsTelemetryChannelResourceId": "https://dc.applicationinsights.azure.com/v2/track",
        "attestationResourceId": "https://attest.azure.net",
        "synapseAnalyticsResourceId": "https://dev.azuresynapse.net",
        "logAnalyticsResourceId": "https://api.loganalytics.io",
        "ossrDbmsResourceId": "https://ossrdbms-aad.database.windows.net",
        "gallery": origin,
    }
    if api_version[:10] < _LIST_UNTIL:
        return Reply(200, [cloud])
    return Reply(200, cloud)
