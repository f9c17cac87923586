"""Unit tests of the derived GalleryRP schema, the request validator and the response shaper."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from compute_gallery import schema
from compute_gallery.arm.errors import ArmError

REPO = Path(__file__).resolve().parent.parent
ROOT = "galleryApplicationVersion"
VERSION = "GalleryApplicationVersion"
LATEST = "2026-03-03"
PP = f"{ROOT}.properties.publishingProfile"

BODY: dict[str, Any] = {
    "location": "West US",
    "tags": {"team": "apps"},
    "properties": {
        "publishingProfile": {
            "source": {"mediaLink": "https://account.blob.core.windows.net/c/package.zip"},
            "manageActions": {"install": "install.cmd", "remove": "remove.cmd"},
            "targetRegions": [
                {
                    "name": "West US",
                    "regionalReplicaCount": 1,
                    "storageAccountType": "Standard_LRS",
                },
                {"name": "East US", "regionalReplicaCount": 2},
            ],
            "replicaCount": 1,
            "endOfLifeDate": "2019-07-01T07:00:00Z",
            "storageAccountType": "Standard_LRS",
        },
    },
}


def body(**publishing_profile: Any) -> dict[str, Any]:
    """A valid version body, with publishingProfile entries replaced (None removes one)."""
    result = copy.deepcopy(BODY)
    profile = result["properties"]["publishingProfile"]
    for name, value in publishing_profile.items():
        if value is None:
            profile.pop(name, None)
        else:
            profile[name] = value
    return result


def check(payload: object, api_version: str = LATEST, *, partial: bool = False) -> dict[str, Any]:
    model = VERSION + ("Update" if partial else "")
    return schema.validate(payload, api_version, model, ROOT, partial=partial)


def rejection(payload: object, api_version: str = LATEST, *, partial: bool = False) -> ArmError:
    with pytest.raises(ArmError) as caught:
        check(payload, api_version, partial=partial)
    return caught.value


def deserialization_message(detail: str) -> str:
    return f"The request content was invalid and could not be deserialized: '{detail}'."


def knows(api_version: str, model: str, resource: dict[str, Any], *path: str) -> bool:
    """Whether shaping ``resource`` for ``api_version`` keeps the property at ``path``."""
    node: Any = schema.shape(resource, api_version, model)
    for name in path:
        if not isinstance(node, dict) or name not in node:
            return False
        node = node[name]
    return True


def _derive(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "tools" / "derive_schema.py"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def test_generated_schema_is_current() -> None:
    result = _derive("--check")
    assert result.returncode == 0, result.stderr


def test_derive_check_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "galleryrp.json"
    stale.write_text("{}\n", encoding="utf-8")
    result = _derive("--check", "--output", str(stale))
    assert result.returncode == 1
    assert "out of date" in result.stderr


def test_derive_says_where_it_looked_for_missing_documents(tmp_path: Path) -> None:
    result = _derive("--check", env={**os.environ, "COMPUTE_GALLERY_SPEC_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert f"not in {tmp_path}" in result.stderr and "--spec-dir" in result.stderr
    assert "Traceback" not in result.stderr


def test_api_versions_are_ascending_and_complete() -> None:
    assert tuple(sorted(schema.API_VERSIONS)) == schema.API_VERSIONS
    assert len(schema.API_VERSIONS) == 14
    assert schema.API_VERSIONS[0] == "2019-03-01"
    assert schema.API_VERSIONS[-1] == "2026-03-03"


@pytest.mark.parametrize("api_version", schema.API_VERSIONS)
def test_update_models_exist_from_2019_07_01(api_version: str) -> None:
    expected = api_version >= "2019-07-01"
    for model in ("GalleryUpdate", "GalleryApplicationUpdate", "GalleryApplicationVersionUpdate"):
        assert schema.has_model(api_version, model) is expected
    for model in ("Gallery", "GalleryApplication", "GalleryApplicationVersion"):
        assert schema.has_model(api_version, model)


@pytest.mark.parametrize("api_version", schema.API_VERSIONS)
def test_patch_operations_exist_from_2019_07_01(api_version: str) -> None:
    for resource in ("galleries", "applications", "versions"):
        assert schema.operation_exists(api_version, resource, "PATCH") is (
            api_version >= "2019-07-01"
        )
        for method in ("PUT", "GET", "DELETE", "LIST"):
            assert schema.operation_exists(api_version, resource, method)
    assert not schema.operation_exists(api_version, "versions", "POST")
    assert not schema.operation_exists("2018-06-01", "galleries", "GET")


@pytest.mark.parametrize("api_version", schema.API_VERSIONS)
def test_expand_values_gain_uefi_settings_in_2022_08_03(api_version: str) -> None:
    expected = (
        ("ReplicationStatus", "UefiSettings")
        if api_version >= "2022-08-03"
        else ("ReplicationStatus",)
    )
    assert schema.expand_values(api_version) == expected


@pytest.mark.parametrize(
    ("since", "model", "resource", "path"),
    [
        (
            "2025-03-03",
            VERSION,
            {"properties": {"publishingProfile": {"storageAccountStrategy": "PreferStandard_ZRS"}}},
            ("properties", "publishingProfile", "storageAccountStrategy"),
        ),
        (
            "2022-03-03",
            VERSION,
            {"properties": {"publishingProfile": {"customActions": []}}},
            ("properties", "publishingProfile", "customActions"),
        ),
        (
            "2022-03-03",
            "GalleryApplication",
            {"properties": {"customActions": []}},
            ("properties", "customActions"),
        ),
        (
            "2022-03-03",
            VERSION,
            {"properties": {"safetyProfile": {"allowDeletionOfReplicatedLocations": True}}},
            ("properties", "safetyProfile"),
        ),
        (
            "2022-01-03",
            VERSION,
            {"properties": {"publishingProfile": {"advancedSettings": {"a": "b"}}}},
            ("properties", "publishingProfile", "advancedSettings"),
        ),
        ("2025-03-03", VERSION, {"systemData": {"createdBy": "me"}}, ("systemData",)),
        ("2025-03-03", "Gallery", {"systemData": {"createdBy": "me"}}, ("systemData",)),
        (
            "2024-03-03",
            VERSION,
            {
                "properties": {
                    "publishingProfile": {"settings": {"scriptBehaviorAfterReboot": "None"}}
                }
            },
            ("properties", "publishingProfile", "settings", "scriptBehaviorAfterReboot"),
        ),
        (
            "2021-07-01",
            VERSION,
            {"properties": {"publishingProfile": {"replicationMode": "Full"}}},
            ("properties", "publishingProfile", "replicationMode"),
        ),
        ("2024-03-03", "Gallery", {"identity": {"type": "None"}}, ("identity",)),
        (
            "2026-03-03",
            "Gallery",
            {"properties": {"softDeletePolicy": {"retentionPeriodInDays": 7}}},
            ("properties", "softDeletePolicy", "retentionPeriodInDays"),
        ),
    ],
)
def test_property_exists_from_its_first_api_version(
    since: str, model: str, resource: dict[str, Any], path: tuple[str, ...]
) -> None:
    for api_version in schema.API_VERSIONS:
        assert knows(api_version, model, resource, *path) is (api_version >= since), api_version


def test_validate_returns_a_new_cleaned_dict() -> None:
    payload = body()
    cleaned = check(payload)
    assert cleaned is not payload
    assert cleaned["location"] == "West US"
    assert cleaned["tags"] == {"team": "apps"}
    assert cleaned["properties"]["publishingProfile"]["targetRegions"][1] == {
        "name": "East US",
        "regionalReplicaCount": 2,
    }
    assert payload == BODY


def test_validate_drops_unknown_and_read_only_properties() -> None:
    payload = body(publishedDate="2019-06-21T17:13:57.5972568+00:00", futureSetting=True)
    payload.update(
        id="/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/galleries/g",
        name="1.0.0",
        type="Microsoft.Compute/galleries/applications/versions",
        systemData={"createdBy": "someone", "createdAt": "not a date"},
        somethingNew={"nested": 1},
    )
    payload["properties"]["provisioningState"] = "Succeeded"
    payload["properties"]["replicationStatus"] = {"aggregatedState": "Completed", "summary": []}

    cleaned = check(payload)

    assert set(cleaned) == {"location", "tags", "properties"}
    assert set(cleaned["properties"]) == {"publishingProfile"}
    profile = cleaned["properties"]["publishingProfile"]
    assert "publishedDate" not in profile
    assert "futureSetting" not in profile


def test_validate_drops_properties_newer_than_the_api_version() -> None:
    payload = body(storageAccountStrategy="PreferStandard_ZRS", replicationMode="Full")
    profile = check(payload, "2021-07-01")["properties"]["publishingProfile"]
    assert profile["replicationMode"] == "Full"
    assert "storageAccountStrategy" not in profile
    assert "replicationMode" not in check(payload, "2020-09-30")["properties"]["publishingProfile"]


def test_validate_matches_property_names_ignoring_case() -> None:
    payload = {"Location": "westus", "PROPERTIES": copy.deepcopy(BODY["properties"])}
    payload["PROPERTIES"]["publishingProfile"]["ReplicaCount"] = 4
    cleaned = check(payload)
    assert cleaned["location"] == "westus"
    # An exact match wins over a name that only matches ignoring case.
    assert cleaned["properties"]["publishingProfile"]["replicaCount"] == 1
    del payload["PROPERTIES"]["publishingProfile"]["replicaCount"]
    assert check(payload)["properties"]["publishingProfile"]["replicaCount"] == 4


def test_validate_canonicalises_enum_case() -> None:
    payload = body(
        storageAccountType="premiumv2_lrs",
        targetRegions=[{"name": "West US", "storageAccountType": "STANDARD_zrs"}],
        customActions=[
            {"name": "a", "script": "s", "parameters": [{"name": "p", "type": "logoutputblob"}]}
        ],
    )
    profile = check(payload)["properties"]["publishingProfile"]
    assert profile["storageAccountType"] == "PremiumV2_LRS"
    assert profile["targetRegions"][0]["storageAccountType"] == "Standard_ZRS"
    assert profile["customActions"][0]["parameters"][0]["type"] == "LogOutputBlob"


@pytest.mark.parametrize(
    ("given", "echoed"),
    [
        ("2019-07-01T07:00:00Z", "2019-07-01T07:00:00+00:00"),
        ("2019-07-01T07:00:00+00:00", "2019-07-01T07:00:00+00:00"),
        ("2019-07-01T09:30:00+02:30", "2019-07-01T07:00:00+00:00"),
        ("2019-07-01T02:00:00-05:00", "2019-07-01T07:00:00+00:00"),
        ("2019-07-01T07:00:00.5000Z", "2019-07-01T07:00:00.5+00:00"),
        ("2019-07-01T07:00:00.1234567Z", "2019-07-01T07:00:00.1234567+00:00"),
        ("2019-07-01T07:00:00.000Z", "2019-07-01T07:00:00+00:00"),
        ("2019-06-30T23:30:00-07:30", "2019-07-01T07:00:00+00:00"),
        ("2019-07-01T07:00:00", "2019-07-01T07:00:00+00:00"),
    ],
)
def test_validate_normalises_date_times_to_utc(given: str, echoed: str) -> None:
    profile = check(body(endOfLifeDate=given))["properties"]["publishingProfile"]
    assert profile["endOfLifeDate"] == echoed


def test_validate_rejects_missing_media_link() -> None:
    payload = body(source={"defaultConfigurationLink": "https://a/b"})
    error = rejection(payload)
    target = f"{PP}.source.mediaLink"
    assert (error.status, error.code, error.target) == (400, "InvalidParameter", target)
    assert error.message == f"Required parameter '{target}' is missing (null)."


def test_validate_treats_null_as_missing() -> None:
    error = rejection(body(source={"mediaLink": None}))
    assert error.target == f"{PP}.source.mediaLink"


def test_validate_rejects_missing_region_name_with_its_index() -> None:
    payload = body(targetRegions=[{"name": "West US"}, {"regionalReplicaCount": 1}])
    error = rejection(payload)
    target = f"{PP}.targetRegions[1].name"
    assert (error.code, error.target) == ("InvalidParameter", target)
    assert error.message == f"Required parameter '{target}' is missing (null)."


def test_validate_rejects_unknown_storage_account_type() -> None:
    error = rejection(body(storageAccountType="Ultra_LRS"), "2025-03-03")
    target = f"{PP}.storageAccountType"
    assert (error.code, error.target) == ("InvalidParameter", target)
    assert error.message == (
        f"The value 'Ultra_LRS' of parameter '{target}' is not allowed. "
        "Allowed values are: Standard_LRS, Standard_ZRS, Premium_LRS, PremiumV2_LRS."
    )


def test_validate_rejects_enum_values_newer_than_the_api_version() -> None:
    error = rejection(body(storageAccountType="PremiumV2_LRS"), "2023-07-03")
    assert error.message.endswith("Allowed values are: Standard_LRS, Standard_ZRS, Premium_LRS.")


def test_validate_rejects_closed_and_extensible_enums_alike() -> None:
    custom = [{"name": "a", "script": "s", "parameters": [{"name": "p", "type": "Number"}]}]
    error = rejection(body(customActions=custom))
    assert error.target == f"{PP}.customActions[0].parameters[0].type"
    error = rejection(body(replicationMode="Deep"))
    assert error.target == f"{PP}.replicationMode"


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("abc", "Error converting value \"abc\" to type 'System.Int32'."),
        (2**31, "JSON integer 2147483648 is too large or small for an Int32."),
        (-(2**31) - 1, "JSON integer -2147483649 is too large or small for an Int32."),
        (1.5, "Input string '1.5' is not a valid integer."),
        (True, "Error reading integer. Unexpected token: Boolean."),
        ({"n": 1}, "Error reading integer. Unexpected token: StartObject."),
    ],
)
def test_validate_rejects_a_replica_count_that_is_not_an_int32(value: object, detail: str) -> None:
    error = rejection(body(replicaCount=value))
    assert (error.status, error.code, error.target) == (400, "InvalidRequestContent", None)
    path = "properties.publishingProfile.replicaCount"
    assert error.message == deserialization_message(f"{detail} Path '{path}'")


def test_validate_accepts_the_int32_bounds() -> None:
    assert check(body(replicaCount=2**31 - 1))["properties"]["publishingProfile"]["replicaCount"]
    assert check(body(replicaCount=-(2**31)))["properties"]["publishingProfile"]["replicaCount"]


def test_validate_rejects_a_boolean_for_a_string() -> None:
    error = rejection(body(source={"mediaLink": True}))
    assert error.code == "InvalidRequestContent"
    assert error.message == deserialization_message(
        "Error reading string. Unexpected token: Boolean. "
        "Path 'properties.publishingProfile.source.mediaLink'"
    )


def test_validate_rejects_a_string_for_an_object_or_a_boolean() -> None:
    error = rejection(body(source="https://a/b"))
    assert error.message == deserialization_message(
        "Error converting value \"https://a/b\" to type 'UserArtifactSource'. "
        "Path 'properties.publishingProfile.source'"
    )
    error = rejection(body(excludeFromLatest="true"))
    assert error.message == deserialization_message(
        "Error converting value \"true\" to type 'System.Boolean'. "
        "Path 'properties.publishingProfile.excludeFromLatest'"
    )


def test_validate_rejects_an_object_for_an_array() -> None:
    error = rejection(body(targetRegions={"name": "West US"}))
    assert error.code == "InvalidRequestContent"
    assert "Cannot deserialize the current JSON object" in error.message
    assert "System.Collections.Generic.List`1[TargetRegion]" in error.message
    assert error.message.endswith("Path 'properties.publishingProfile.targetRegions''.")


def test_validate_rejects_a_body_that_is_not_an_object() -> None:
    error = rejection([BODY])
    assert (error.status, error.code, error.target) == (400, "InvalidRequestContent", None)
    assert error.message == deserialization_message(
        "Cannot deserialize the current JSON array (e.g. [1,2,3]) into type "
        "'GalleryApplicationVersion' because the type requires a JSON object "
        '(e.g. {"name":"value"}) to deserialize correctly. Path \'\''
    )
    assert rejection("text").code == "InvalidRequestContent"


def test_validate_rejects_a_missing_body() -> None:
    error = rejection(None)
    assert (error.code, error.target) == ("InvalidParameter", ROOT)


def test_validate_rejects_an_unparsable_date() -> None:
    error = rejection(body(endOfLifeDate="next tuesday"))
    assert error.message == deserialization_message(
        "Could not convert string to DateTime: next tuesday. "
        "Path 'properties.publishingProfile.endOfLifeDate'"
    )
    assert rejection(body(endOfLifeDate="2019-02-30T00:00:00Z")).code == "InvalidRequestContent"
    assert rejection(body(endOfLifeDate=20190701)).code == "InvalidRequestContent"


def test_validate_rejects_a_non_string_tag_value_with_its_path() -> None:
    payload = body()
    payload["tags"] = {"cost center": 5}
    error = rejection(payload)
    assert error.message == deserialization_message(
        "Error reading string. Unexpected token: Integer. Path 'tags['cost center']'"
    )


def test_validate_does_not_quote_huge_values() -> None:
    huge = "x" * 100_000
    assert len(rejection(body(replicaCount=huge)).message) < 300
    assert len(rejection(body(storageAccountType=huge)).message) < 400


def test_validate_reports_the_first_error_in_document_order() -> None:
    payload = body(
        source={},
        targetRegions=[{"regionalReplicaCount": 1}],
        storageAccountType="Nope",
    )
    assert rejection(payload).target == f"{PP}.source.mediaLink"
    payload = body(targetRegions=[{"regionalReplicaCount": 1}], storageAccountType="Nope")
    assert rejection(payload).target == f"{PP}.targetRegions[0].name"


def test_validate_reports_conversion_errors_before_missing_values() -> None:
    # The deserializer fails on the first bad value before the service checks anything.
    payload = body(source={}, replicaCount="abc")
    assert rejection(payload).code == "InvalidRequestContent"


def test_validate_leaves_location_to_the_caller() -> None:
    payload = body()
    del payload["location"]
    assert "location" not in check(payload)


def test_validate_requires_the_publishing_profile_on_create() -> None:
    error = rejection({"location": "westus", "properties": {}})
    assert error.target == f"{ROOT}.properties.publishingProfile"


def test_partial_validation_skips_required_on_merged_objects() -> None:
    payload = {"properties": {"publishingProfile": {"replicaCount": 3}}, "tags": {}}
    cleaned = check(payload, partial=True)
    assert cleaned == {"properties": {"publishingProfile": {"replicaCount": 3}}, "tags": {}}
    assert check({"tags": {"a": "b"}}, partial=True) == {"tags": {"a": "b"}}


def test_partial_validation_requires_complete_array_items() -> None:
    payload = {
        "properties": {"publishingProfile": {"targetRegions": [{"regionalReplicaCount": 1}]}}
    }
    error = rejection(payload, partial=True)
    assert error.target == f"{PP}.targetRegions[0].name"


def test_partial_validation_still_checks_types_and_enums() -> None:
    profile = {"replicaCount": "abc"}
    assert rejection({"properties": {"publishingProfile": profile}}, partial=True).code == (
        "InvalidRequestContent"
    )
    profile = {"storageAccountType": "Nope"}
    assert rejection({"properties": {"publishingProfile": profile}}, partial=True).code == (
        "InvalidParameter"
    )


def test_validate_checks_gallery_identity_maps() -> None:
    identity_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/x/id"
    payload = {
        "location": "westus",
        "identity": {
            "type": "systemassigned, userassigned",
            "principalId": "read-only",
            "userAssignedIdentities": {identity_id: {"clientId": "read-only"}},
        },
    }
    cleaned = schema.validate(payload, "2024-03-03", "Gallery", "gallery")
    assert cleaned["identity"] == {
        "type": "SystemAssigned, UserAssigned",
        "userAssignedIdentities": {identity_id: {}},
    }
    assert "identity" not in schema.validate(payload, "2023-07-03", "Gallery", "gallery")


def test_validate_requires_the_supported_os_type_of_an_application() -> None:
    payload = {"location": "westus", "properties": {"supportedOSType": "windows"}}
    cleaned = schema.validate(payload, LATEST, "GalleryApplication", "galleryApplication")
    assert cleaned["properties"] == {"supportedOSType": "Windows"}
    with pytest.raises(ArmError) as caught:
        schema.validate({"properties": {}}, LATEST, "GalleryApplication", "galleryApplication")
    assert caught.value.target == "galleryApplication.properties.supportedOSType"


def test_validate_rejects_unknown_models() -> None:
    with pytest.raises(ValueError, match="GalleryApplicationVersionUpdate"):
        schema.validate({}, "2019-03-01", "GalleryApplicationVersionUpdate", ROOT, partial=True)


STORED: dict[str, Any] = {
    "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g"
    "/applications/a/versions/1.0.0",
    "name": "1.0.0",
    "type": "Microsoft.Compute/galleries/applications/versions",
    "location": "westus",
    "tags": {"team": "apps"},
    "systemData": {"createdBy": "someone", "createdAt": "2025-01-01T00:00:00+00:00"},
    "properties": {
        "provisioningState": "Succeeded",
        "safetyProfile": {"allowDeletionOfReplicatedLocations": False},
        "publishingProfile": {
            "source": {"mediaLink": "https://account.blob.core.windows.net/c/package.zip"},
            "targetRegions": [
                {
                    "name": "westus",
                    "regionalReplicaCount": 1,
                    "excludeFromLatest": False,
                    "additionalReplicaSets": [],
                }
            ],
            "publishedDate": "2025-01-01T00:00:00.1234567+00:00",
            "storageAccountStrategy": "PreferStandard_ZRS",
            "settings": {"packageFileName": "app.zip", "scriptBehaviorAfterReboot": "Rerun"},
        },
    },
}


def test_shape_drops_fields_newer_than_the_api_version() -> None:
    shaped = schema.shape(STORED, "2019-03-01", VERSION)
    assert "systemData" not in shaped
    assert set(shaped["properties"]) == {"provisioningState", "publishingProfile"}
    profile = shaped["properties"]["publishingProfile"]
    assert set(profile) == {"source", "targetRegions", "publishedDate"}
    assert profile["targetRegions"] == [{"name": "westus", "regionalReplicaCount": 1}]

    profile = schema.shape(STORED, "2022-01-03", VERSION)["properties"]["publishingProfile"]
    assert profile["settings"] == {"packageFileName": "app.zip"}


def test_shape_keeps_everything_the_api_version_knows() -> None:
    assert schema.shape(STORED, LATEST, VERSION) == STORED


def test_shape_returns_a_copy() -> None:
    shaped = schema.shape(STORED, LATEST, VERSION)
    shaped["tags"]["extra"] = "x"
    shaped["properties"]["publishingProfile"]["targetRegions"].append({"name": "eastus"})
    assert STORED["tags"] == {"team": "apps"}
    assert len(STORED["properties"]["publishingProfile"]["targetRegions"]) == 1
