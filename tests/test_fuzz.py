"""Property-based fuzzing of the gallery operations against the official 2025-03-03 document."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.generation.meta import TestPhase
from schemathesis.specs.openapi.checks import response_schema_conformance

from tools.derive_schema import DEFAULT_SPEC_DIR, RP_DIR

from . import support
from .support import (
    SUBSCRIPTION,
    Arm,
    ServiceProcess,
    resource_group_path,
    version_body,
    version_path,
)

API_VERSION = "2025-03-03"
SPEC = DEFAULT_SPEC_DIR / RP_DIR / f"Compute/stable/{API_VERSION}/GalleryRP.json"

# The resources every fuzzed request is biased towards, so that a useful share of cases gets
# past the 404s and exercises validation, the stored state and the response shaping. Path
# parameters run from the outermost resource to the innermost.
GROUP = "fuzz-rg"
LOCATION = "eastus2"
EXISTING = {
    "resourceGroupName": GROUP,
    "galleryName": "fuzzgallery",
    "galleryApplicationName": "fuzz-app",
    "galleryApplicationVersionName": "1.0.0",
}
# Valid names nothing creates beforehand: the first PUT to one creates, later ones replace.
FRESH = {
    "galleryName": "fuzzgallery2",
    "galleryApplicationName": "fuzz-app-2",
    "galleryApplicationVersionName": "1.0.1",
}


def publishing() -> dict[str, Any]:
    """The package (the session's readable blob) and commands of the existing version."""
    return {
        "source": {"mediaLink": support.PACKAGE_URL},
        "manageActions": {"install": "bash install.sh", "remove": "bash remove.sh"},
    }


CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20250303,
        # Version bodies are large and gallery names come from a regex with a look-behind, so
        # generating a case can be slow or discard many drafts; on a loaded CI machine these
        # health checks would then fail the run although every case generated is fine.
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        "headers": {"Authorization": "Bearer test-token"},
        "parameters": {"subscriptionId": SUBSCRIPTION, "api-version": API_VERSION},
        # The same cases on every run, and no example database left in the checkout. Bodies are
        # where the inputs are, so writes get more fuzzed cases; about 45 s on two cores.
        "generation": {"deterministic": True, "max-examples": 40, "database": "none"},
        "operations": [{"include-method": ["PUT", "PATCH"], "generation": {"max-examples": 100}}],
        # Coverage (boundary values, wrong types, other methods) and fuzzing; the document has
        # no links for stateful sequences.
        "phases": {"stateful": {"enabled": False}},
    }
)

# The service serves galleries, applications and their versions; everything else in the
# document (images, scripts, sharing, soft deletion, community and shared galleries) is left
# out. An exclusion, because an ``include`` would be OR-ed with the per-operation settings above.
schema = schemathesis.openapi.from_path(SPEC, config=CONFIG).exclude(
    operation_id_regex=r"^(?!(Galleries|GalleryApplications|GalleryApplicationVersions)_)"
)


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Name the existing parents, and the resource itself as existing, fresh or generated.

    A third of the cases name every resource as it exists, a third give the innermost one a
    fresh valid name, and the rest keep the generated names below a random depth.
    """
    if not path_parameters:
        return st.just(path_parameters)
    order = [name for name in EXISTING if name in path_parameters]
    innermost = order[-1] if order else None

    def named(depth: int, fresh: bool) -> dict[str, Any]:
        chosen = dict(path_parameters)
        for name in order[:depth]:
            chosen[name] = EXISTING[name]
        if fresh and innermost in FRESH:
            chosen[innermost] = FRESH[innermost]
        return chosen

    full = len(order)
    return st.one_of(
        st.just(named(full, fresh=False)),
        st.just(named(full, fresh=True)),
        st.integers(0, full).map(lambda depth: named(depth, fresh=False)),
    )


@schema.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """Make the body one the service's own rules can accept, or keep it as generated."""
    if not isinstance(body, dict):
        return st.just(body)
    assert context.operation is not None
    return st.sampled_from([_plausible(body, context.operation), body])


def _plausible(
    body: dict[str, Any], operation: schemathesis.APIOperation[Any, Any, Any, Any]
) -> dict[str, Any]:
    """``body`` with what the document cannot express settled: a real region, valid tags, the
    properties the service needs, the package and commands the existing version was created
    with, no replication targets and no end-of-life date (the service wants a future one).
    """
    fixed = copy.deepcopy(body)
    if operation.method.upper() == "PUT":
        fixed["location"] = LOCATION
    if "tags" in fixed:
        fixed["tags"] = {"purpose": "fuzz"}
    properties = fixed.setdefault("properties", {})
    if not isinstance(properties, dict):
        return fixed
    properties.pop("endOfLifeDate", None)
    if operation.path.endswith("{galleryApplicationName}"):
        properties.setdefault("supportedOSType", "Linux")
    if operation.path.endswith("{galleryApplicationVersionName}"):
        profile = properties.setdefault("publishingProfile", {})
        if isinstance(profile, dict):
            for name in ("targetRegions", "endOfLifeDate", "replicaCount", "customActions"):
                profile.pop(name, None)
            profile.update(publishing())
    return fixed


def _aim_coverage_case(case: schemathesis.Case[Any]) -> None:
    """Point a coverage case at the existing resources, unless a path parameter is its subject.

    The coverage phase builds its cases without the generation hooks: left alone, nearly all
    of them would stop at a missing resource group before the body they vary is read.
    """
    if case.meta is None or case.meta.phase.name != TestPhase.COVERAGE:
        return
    data = case.meta.phase.data
    if getattr(data, "parameter_location", None) == ParameterLocation.PATH:
        return
    for name in case.path_parameters or {}:
        if name in EXISTING:
            case.path_parameters[name] = EXISTING[name]
    if isinstance(case.body, dict):
        if case.meta.generation.mode == GenerationMode.POSITIVE:
            case.body = _plausible(case.body, case.operation)
        elif case.method.upper() == "PUT" and isinstance(case.body.get("location", ""), str):
            case.body["location"] = LOCATION


@pytest.fixture(scope="module")
def fuzz_session(service: ServiceProcess) -> Iterator[requests.Session]:
    """The fixed resources, and a session that trusts the service's CA; the group goes after."""
    arm = Arm(service)
    arm.create_group(GROUP, LOCATION)
    gallery, application = EXISTING["galleryName"], EXISTING["galleryApplicationName"]
    arm.create_gallery(GROUP, gallery, LOCATION)
    arm.create_application(GROUP, gallery, application, LOCATION)
    version = version_path(GROUP, gallery, application, EXISTING["galleryApplicationVersionName"])
    created = arm.put(version, version_body(LOCATION, **publishing()))
    assert created.status_code == 201, created.text
    assert arm.wait(created)["status"] == "Succeeded"

    session = requests.Session()
    session.verify = service.verify
    # Else REQUESTS_CA_BUNDLE, where it is set, would take the place of the service's CA.
    session.trust_env = False
    yield session
    session.close()

    # Other tests list the whole subscription: leave nothing of the fuzzing behind.
    deleted = arm.request("DELETE", resource_group_path(GROUP), "2025-04-01")
    assert deleted.status_code == 202, deleted.text
    assert arm.poll(deleted.headers["Location"]).status_code == 200
    arm.close()


@schema.parametrize()
def test_operation_answers_cloud_error_or_conforming_resource(
    case: schemathesis.Case[Any], service: ServiceProcess, fuzz_session: requests.Session
) -> None:
    """Whatever the request, no 5xx; a 4xx is a JSON CloudError; a success has the
    document's shape (the response-schema check validates errors against CloudError too)."""
    _aim_coverage_case(case)
    response = case.call(
        base_url=service.endpoint, session=fuzz_session, verify=service.verify, timeout=10
    )

    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/json"), response.headers
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
        error = body["error"]
        assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), body
