"""Every validation rule, broken once over raw HTTP: status, code, target and message."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from . import support
from .support import (
    Arm,
    ServiceProcess,
    application_path,
    cloud_error,
    gallery_path,
    resource_group_path,
    unique,
    version_body,
    version_path,
)

PROFILE = "galleryApplicationVersion.properties.publishingProfile"
MEDIA_LINK = "https://account.blob.core.windows.net/apps/app.zip?sv=1&sig=x"


@pytest.fixture(scope="module")
def parents(service: ServiceProcess) -> Iterator[tuple[str, str, str]]:
    """A group, gallery and application that only refused requests are sent under."""
    client = Arm(service)
    yield client.parents()
    client.close()


@pytest.fixture
def new_version(parents: tuple[str, str, str]) -> str:
    """The path of a version that does not exist (and that no test here manages to create)."""
    return version_path(*parents, "1.0.0")


def invalid_parameter(response: requests.Response, target: str) -> str:
    """The message of a 400 InvalidParameter aimed at ``target``."""
    error = cloud_error(response, 400, "InvalidParameter")
    assert error["target"] == target
    return str(error["message"])


def unreadable(response: requests.Response) -> str:
    """The message of a 400 InvalidRequestContent (which names no target)."""
    error = cloud_error(response, 400, "InvalidRequestContent")
    assert "target" not in error
    message = str(error["message"])
    assert message.startswith("The request content was invalid and could not be deserialized: ")
    return message


def finished(arm: Arm, response: requests.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    assert arm.wait(response)["status"] == "Succeeded"
    body: dict[str, Any] = response.json()
    return body


def created_version(arm: Arm, **profile: Any) -> str:
    """A finished version under fresh parents; its path."""
    path = version_path(*arm.parents(), "1.0.0")
    finished(arm, arm.put(path, version_body(**profile)))
    return path


# -- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["1.0", "a.b.c", "1.0.0.0", "2147483648.0.0", "1.-1.0"])
def test_put_version_malformed_name_returns_400(
    arm: Arm, parents: tuple[str, str, str], name: str
) -> None:
    response = arm.put(version_path(*parents, name), version_body())

    message = invalid_parameter(response, "galleryApplicationVersionName")
    assert "Major(int32).Minor(int32).Patch(int32)" in message


def test_put_version_largest_int32_parts_is_accepted(arm: Arm) -> None:
    path = version_path(*arm.parents(), "2147483647.0.2147483647")

    response = arm.put(path, version_body())

    assert response.status_code == 201, response.text


@pytest.mark.parametrize("name", ["my-gallery", "gallery.", "_gallery", "g" * 81])
def test_put_gallery_invalid_name_returns_400(arm: Arm, name: str) -> None:
    group = unique("rg")
    arm.create_group(group)

    response = arm.put(gallery_path(group, name), {"location": "eastus2"})

    message = invalid_parameter(response, "galleryName")
    assert f"The gallery name '{name}' is invalid." in message


@pytest.mark.parametrize("name", ["my.gallery_1", "g" * 80])
def test_put_gallery_valid_name_is_accepted(arm: Arm, name: str) -> None:
    group = unique("rg")
    arm.create_group(group)

    response = arm.put(gallery_path(group, name), {"location": "eastus2"})

    assert response.status_code == 201, response.text


@pytest.mark.parametrize("name", ["app.", "-app", ".app", "a@b", "a" * 118])
def test_put_application_invalid_name_returns_400(
    arm: Arm, parents: tuple[str, str, str], name: str
) -> None:
    group, gallery, _ = parents

    response = arm.put(
        application_path(group, gallery, name),
        {"location": "eastus2", "properties": {"supportedOSType": "Linux"}},
    )

    message = invalid_parameter(response, "galleryApplicationName")
    assert f"The gallery application name '{name}' is invalid." in message


@pytest.mark.parametrize("name", ["my-app.v_1", "a" * 117])
def test_put_application_valid_name_is_accepted(
    arm: Arm, parents: tuple[str, str, str], name: str
) -> None:
    group, gallery, _ = parents

    response = arm.put(
        application_path(group, gallery, name),
        {"location": "eastus2", "properties": {"supportedOSType": "Linux"}},
    )

    assert response.status_code in (200, 201), response.text
    arm.request("DELETE", application_path(group, gallery, name))


# -- required properties -----------------------------------------------------------------------


def _without(path: str) -> dict[str, Any]:
    """A valid version body with the property at dotted ``path`` removed."""
    body = version_body()
    node = body
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    del node[last]
    return body


@pytest.mark.parametrize(
    ("removed", "target"),
    [
        ("properties", f"{PROFILE}"),
        ("properties.publishingProfile", f"{PROFILE}"),
        ("properties.publishingProfile.source", f"{PROFILE}.source"),
        ("properties.publishingProfile.source.mediaLink", f"{PROFILE}.source.mediaLink"),
        ("properties.publishingProfile.manageActions", f"{PROFILE}.manageActions"),
        (
            "properties.publishingProfile.manageActions.install",
            f"{PROFILE}.manageActions.install",
        ),
        ("properties.publishingProfile.manageActions.remove", f"{PROFILE}.manageActions.remove"),
    ],
)
def test_put_version_missing_required_property_returns_400(
    arm: Arm, new_version: str, removed: str, target: str
) -> None:
    response = arm.put(new_version, _without(removed))

    assert (
        invalid_parameter(response, target) == f"Required parameter '{target}' is missing (null)."
    )


def test_put_version_null_required_property_returns_400(arm: Arm, new_version: str) -> None:
    body = version_body()
    body["properties"]["publishingProfile"]["source"]["mediaLink"] = None

    response = arm.put(new_version, body)

    invalid_parameter(response, f"{PROFILE}.source.mediaLink")


@pytest.mark.parametrize("properties", [None, {}])
def test_put_application_missing_os_type_returns_400(
    arm: Arm, parents: tuple[str, str, str], properties: dict[str, Any] | None
) -> None:
    group, gallery, _ = parents
    body: dict[str, Any] = {"location": "eastus2"}
    if properties is not None:
        body["properties"] = properties

    response = arm.put(application_path(group, gallery, unique("app")), body)

    target = "galleryApplication.properties.supportedOSType"
    assert (
        invalid_parameter(response, target) == f"Required parameter '{target}' is missing (null)."
    )


def test_put_custom_action_missing_script_returns_400(arm: Arm, new_version: str) -> None:
    response = arm.put(new_version, version_body(customActions=[{"name": "reset"}]))

    target = f"{PROFILE}.customActions[0].script"
    assert (
        invalid_parameter(response, target) == f"Required parameter '{target}' is missing (null)."
    )


# -- lengths, counts and uniqueness ------------------------------------------------------------


@pytest.mark.parametrize("command", ["install", "remove", "update"])
def test_put_version_command_over_4096_returns_400(
    arm: Arm, new_version: str, command: str
) -> None:
    actions = {"install": "i", "remove": "r", command: "x" * 4097}

    response = arm.put(new_version, version_body(manageActions=actions))

    message = invalid_parameter(response, f"{PROFILE}.manageActions.{command}")
    assert "4097 characters and at most 4096 are allowed" in message


def test_put_version_commands_of_4096_are_accepted(arm: Arm) -> None:
    path = version_path(*arm.parents(), "1.0.0")
    actions = {"install": "i" * 4096, "remove": "r" * 4096, "update": "u" * 4096}

    response = arm.put(path, version_body(manageActions=actions))

    assert response.status_code == 201, response.text
    assert response.json()["properties"]["publishingProfile"]["manageActions"] == actions


@pytest.mark.parametrize("count", [0, 4, -1])
def test_put_version_replica_count_out_of_range_returns_400(
    arm: Arm, new_version: str, count: int
) -> None:
    response = arm.put(new_version, version_body(replicaCount=count))

    target = f"{PROFILE}.replicaCount"
    assert invalid_parameter(response, target) == (
        f"The value {count} of parameter {target} is out of range. "
        "The value must be between 1 and 3, inclusive."
    )


@pytest.mark.parametrize("count", [0, 4])
def test_put_version_regional_replica_count_out_of_range_returns_400(
    arm: Arm, new_version: str, count: int
) -> None:
    regions = [{"name": "eastus2"}, {"name": "westus2", "regionalReplicaCount": count}]

    response = arm.put(new_version, version_body(targetRegions=regions))

    target = f"{PROFILE}.targetRegions[1].regionalReplicaCount"
    assert invalid_parameter(response, target) == (
        f"The value {count} of parameter {target} is out of range. "
        "The value must be between 1 and 3, inclusive."
    )


def test_put_version_replica_counts_in_range_are_accepted(arm: Arm) -> None:
    path = version_path(*arm.parents(), "1.0.0")
    regions = [{"name": "eastus2", "regionalReplicaCount": 1}, {"name": "westus2"}]

    response = arm.put(path, version_body(replicaCount=3, targetRegions=regions))

    assert response.status_code == 201, response.text
    counts = [
        region["regionalReplicaCount"]
        for region in response.json()["properties"]["publishingProfile"]["targetRegions"]
    ]
    assert counts == [1, 3]


def test_put_version_duplicate_custom_action_names_returns_400(arm: Arm, new_version: str) -> None:
    actions = [{"name": "reset", "script": "a"}, {"name": "Reset", "script": "b"}]

    response = arm.put(new_version, version_body(customActions=actions))

    message = invalid_parameter(response, f"{PROFILE}.customActions")
    assert "The custom action name 'Reset' is used more than once" in message


def test_put_version_duplicate_parameter_names_returns_400(arm: Arm, new_version: str) -> None:
    parameters = [{"name": "level"}, {"name": "level"}]
    actions = [{"name": "reset", "script": "a", "parameters": parameters}]

    response = arm.put(new_version, version_body(customActions=actions))

    message = invalid_parameter(response, f"{PROFILE}.customActions[0].parameters")
    assert "The custom action parameter name 'level' is used more than once" in message


def test_put_application_duplicate_custom_action_names_returns_400(
    arm: Arm, parents: tuple[str, str, str]
) -> None:
    group, gallery, _ = parents
    actions = [{"name": "reset", "script": "a"}, {"name": "reset", "script": "b"}]
    body = {
        "location": "eastus2",
        "properties": {"supportedOSType": "Linux", "customActions": actions},
    }

    response = arm.put(application_path(group, gallery, unique("app")), body)

    invalid_parameter(response, "galleryApplication.properties.customActions")


# -- storage and regions -----------------------------------------------------------------------


def test_put_version_storage_type_and_strategy_returns_400(arm: Arm, new_version: str) -> None:
    response = arm.put(
        new_version,
        version_body(
            storageAccountType="Standard_LRS", storageAccountStrategy="PreferStandard_ZRS"
        ),
    )

    message = invalid_parameter(response, f"{PROFILE}.storageAccountStrategy")
    assert "cannot be specified together" in message


@pytest.mark.parametrize("second", ["eastus2", "East US 2", "EASTUS2"])
def test_put_version_duplicate_target_regions_returns_400(
    arm: Arm, new_version: str, second: str
) -> None:
    regions = [{"name": "eastus2"}, {"name": second}]

    response = arm.put(new_version, version_body(targetRegions=regions))

    message = invalid_parameter(response, f"{PROFILE}.targetRegions")
    assert f"The target region '{second}' is specified more than once" in message


def test_put_version_target_regions_without_home_returns_400(arm: Arm, new_version: str) -> None:
    response = arm.put(new_version, version_body(targetRegions=[{"name": "westus2"}]))

    message = invalid_parameter(response, f"{PROFILE}.targetRegions")
    assert "must contain the location of the gallery application version 'eastus2'" in message


def test_put_version_unknown_target_region_returns_400(arm: Arm, new_version: str) -> None:
    regions = [{"name": "eastus2"}, {"name": "moonbase1"}]

    response = arm.put(new_version, version_body(targetRegions=regions))

    message = invalid_parameter(response, f"{PROFILE}.targetRegions[1].name")
    assert "The region 'moonbase1'" in message
    assert "is not a valid Azure region" in message


def test_put_version_target_region_encryption_returns_400(arm: Arm, new_version: str) -> None:
    encryption = {"osDiskImage": {"diskEncryptionSetId": "/subscriptions/x/des"}}
    regions = [{"name": "eastus2", "encryption": encryption}]

    response = arm.put(new_version, version_body(targetRegions=regions))

    target = f"{PROFILE}.targetRegions[0].encryption"
    assert invalid_parameter(response, target) == f"Parameter '{target}' is not allowed."


def test_put_version_target_region_display_name_is_echoed_as_display_name(arm: Arm) -> None:
    path = version_path(*arm.parents(), "1.0.0")

    response = arm.put(path, version_body(targetRegions=[{"name": "eastus2"}, {"name": "WestUS2"}]))

    regions = response.json()["properties"]["publishingProfile"]["targetRegions"]
    assert [region["name"] for region in regions] == ["East US 2", "West US 2"]


# -- enums -------------------------------------------------------------------------------------


def test_put_version_unknown_storage_type_returns_400(arm: Arm, new_version: str) -> None:
    response = arm.put(new_version, version_body(storageAccountType="Foo"))

    target = f"{PROFILE}.storageAccountType"
    assert invalid_parameter(response, target) == (
        f"The value 'Foo' of parameter '{target}' is not allowed. "
        "Allowed values are: Standard_LRS, Standard_ZRS, Premium_LRS, PremiumV2_LRS."
    )


def test_put_version_unknown_parameter_type_returns_400(arm: Arm, new_version: str) -> None:
    parameters = [{"name": "level", "type": "Integer"}]
    actions = [{"name": "reset", "script": "a", "parameters": parameters}]

    response = arm.put(new_version, version_body(customActions=actions))

    target = f"{PROFILE}.customActions[0].parameters[0].type"
    assert invalid_parameter(response, target) == (
        f"The value 'Integer' of parameter '{target}' is not allowed. "
        "Allowed values are: String, ConfigurationDataBlob, LogOutputBlob."
    )


def test_put_application_unknown_os_type_returns_400(
    arm: Arm, parents: tuple[str, str, str]
) -> None:
    group, gallery, _ = parents
    body = {"location": "eastus2", "properties": {"supportedOSType": "Plan9"}}

    response = arm.put(application_path(group, gallery, unique("app")), body)

    message = invalid_parameter(response, "galleryApplication.properties.supportedOSType")
    assert message.endswith("is not allowed. Allowed values are: Windows, Linux.")


def test_put_version_enums_in_other_case_are_echoed_canonical(arm: Arm) -> None:
    path = version_path(*arm.parents(), "1.0.0")
    parameters = [{"name": "log", "type": "logoutputblob"}]
    actions = [{"name": "reset", "script": "a", "parameters": parameters}]

    response = arm.put(
        path,
        version_body(
            storageAccountType="standard_zrs",
            replicationMode="SHALLOW",
            settings={"scriptBehaviorAfterReboot": "rerun"},
            customActions=actions,
        ),
    )

    assert response.status_code == 201, response.text
    profile = response.json()["properties"]["publishingProfile"]
    assert profile["storageAccountType"] == "Standard_ZRS"
    assert profile["replicationMode"] == "Shallow"
    assert profile["settings"]["scriptBehaviorAfterReboot"] == "Rerun"
    assert profile["customActions"][0]["parameters"][0]["type"] == "LogOutputBlob"
    assert arm.get(path).json()["properties"]["publishingProfile"]["replicationMode"] == "Shallow"


# -- sources and dates -------------------------------------------------------------------------


@pytest.mark.parametrize("link", ["app.zip", "/apps/app.zip", "ftp://host/app.zip", "https://"])
@pytest.mark.parametrize("field", ["mediaLink", "defaultConfigurationLink"])
def test_put_version_non_absolute_source_returns_400(
    arm: Arm, new_version: str, link: str, field: str
) -> None:
    source = {"mediaLink": MEDIA_LINK, field: link}

    response = arm.put(new_version, version_body(source=source))

    message = invalid_parameter(response, f"{PROFILE}.source.{field}")
    assert message == f"Source uri: '{link}' must be an absolute uri."


def test_put_version_past_end_of_life_returns_400(arm: Arm, new_version: str) -> None:
    response = arm.put(new_version, version_body(endOfLifeDate="2001-01-01T00:00:00Z"))

    message = invalid_parameter(response, f"{PROFILE}.endOfLifeDate")
    assert message == "EndOfLifeDate must be set to a future date."


def test_put_application_past_end_of_life_returns_400(
    arm: Arm, parents: tuple[str, str, str]
) -> None:
    group, gallery, _ = parents
    properties = {"supportedOSType": "Linux", "endOfLifeDate": "2001-01-01T00:00:00Z"}

    response = arm.put(
        application_path(group, gallery, unique("app")),
        {"location": "eastus2", "properties": properties},
    )

    message = invalid_parameter(response, "galleryApplication.properties.endOfLifeDate")
    assert message == "EndOfLifeDate must be set to a future date."


def test_put_version_future_end_of_life_is_echoed_in_utc(arm: Arm) -> None:
    path = version_path(*arm.parents(), "1.0.0")

    response = arm.put(path, version_body(endOfLifeDate="2099-07-01T09:00:00+02:00"))

    assert response.status_code == 201, response.text
    profile = response.json()["properties"]["publishingProfile"]
    assert profile["endOfLifeDate"] == "2099-07-01T07:00:00+00:00"


def test_put_version_unparsable_end_of_life_returns_400(arm: Arm, new_version: str) -> None:
    response = arm.put(new_version, version_body(endOfLifeDate="next tuesday"))

    assert "Could not convert string to DateTime" in unreadable(response)


# -- request content ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b'{"location": ', "Unexpected character encountered while parsing value"),
        (b"", "The request body is empty."),
        (b"   ", "The request body is empty."),
        (b"[]", "Cannot deserialize the current JSON list into an object."),
        (b'"text"', "Cannot deserialize the current JSON str into an object."),
    ],
)
def test_put_version_unreadable_body_returns_400(
    arm: Arm, new_version: str, raw: bytes, detail: str
) -> None:
    response = arm.request(
        "PUT", new_version, raw=raw, headers={"Content-Type": "application/json"}
    )

    assert detail in unreadable(response)


@pytest.mark.parametrize(
    ("profile", "detail"),
    [
        ({"replicaCount": "2"}, "Error converting value \"2\" to type 'System.Int32'."),
        ({"replicaCount": 1.5}, "is not a valid integer"),
        ({"excludeFromLatest": "yes"}, "to type 'System.Boolean'"),
        ({"targetRegions": {"name": "eastus2"}}, "requires a JSON array"),
        ({"manageActions": "install"}, 'Error converting value "install" to type'),
    ],
)
def test_put_version_wrong_json_type_returns_400(
    arm: Arm, new_version: str, profile: dict[str, Any], detail: str
) -> None:
    response = arm.put(new_version, version_body(**profile))

    message = unreadable(response)
    assert detail in message
    assert "Path 'properties.publishingProfile." in message


def test_put_version_string_tag_map_returns_400(arm: Arm, new_version: str) -> None:
    body = version_body()
    body["tags"] = ["a", "b"]

    response = arm.put(new_version, body)

    assert "Path 'tags'" in unreadable(response)


def test_put_version_without_location_returns_400(arm: Arm, new_version: str) -> None:
    body = version_body()
    del body["location"]

    response = arm.put(new_version, body)

    error = cloud_error(response, 400, "LocationRequired")
    assert error["message"] == "The location property is required for this definition."


def test_put_version_unknown_location_returns_400(arm: Arm, new_version: str) -> None:
    response = arm.put(new_version, version_body(location="moonbase1"))

    error = cloud_error(response, 400, "LocationNotAvailableForResourceType")
    assert error["message"].startswith(
        "The provided location 'moonbase1' is not available for resource type "
        "'Microsoft.Compute/galleries/applications/versions'. List of available regions for "
        "the resource type is '"
    )
    assert "eastus2" in error["message"]


# -- tags --------------------------------------------------------------------------------------


def _tagged(tags: dict[str, str]) -> dict[str, Any]:
    body = version_body()
    body["tags"] = tags
    return body


@pytest.mark.parametrize(
    ("tags", "code", "fragment"),
    [
        (
            {f"t{i}": "v" for i in range(51)},
            "InvalidTags",
            "Too many tags specified. Requested tag count - '51'. "
            "Maximum number of tags allowed - '50'.",
        ),
        ({"n" * 513: "v"}, "InvalidTagName", "a tag name must have 1 to 512 characters"),
        ({"": "v"}, "InvalidTagName", "a tag name must have 1 to 512 characters"),
        (
            {"a<b": "v"},
            "InvalidTagNameCharacters",
            "The tag names 'a<b' have reserved characters '<,>,%,&,\\,?,/' or control characters.",
        ),
        ({"a?b": "v"}, "InvalidTagNameCharacters", "have reserved characters"),
        ({"name": "v" * 257}, "InvalidTagValueLength", "at most 256 characters"),
    ],
)
def test_put_version_tags_over_limits_returns_400(
    arm: Arm, new_version: str, tags: dict[str, str], code: str, fragment: str
) -> None:
    response = arm.put(new_version, _tagged(tags))

    error = cloud_error(response, 400, code)
    assert fragment in error["message"]


def test_put_gallery_too_many_tags_returns_400(arm: Arm) -> None:
    group = unique("rg")
    arm.create_group(group)
    body = {"location": "eastus2", "tags": {f"t{i}": "v" for i in range(51)}}

    response = arm.put(gallery_path(group, unique("gal")), body)

    cloud_error(response, 400, "InvalidTags")


def test_put_version_tags_at_limits_are_accepted(arm: Arm) -> None:
    path = version_path(*arm.parents(), "1.0.0")
    tags = {f"t{i}": "v" for i in range(48)}
    tags["n" * 512] = "v"
    tags["long"] = "v" * 256

    response = arm.put(path, _tagged(tags))

    assert response.status_code == 201, response.text
    assert response.json()["tags"] == tags


# -- read-only and immutable properties ---------------------------------------------------------


def test_put_version_read_only_fields_sent_back_are_ignored(arm: Arm) -> None:
    path = created_version(arm)
    before = arm.get(path, params={"$expand": "ReplicationStatus"}).json()
    sent = copy.deepcopy(before)
    sent["id"] = "/subscriptions/other/resourceGroups/x"
    sent["name"] = "9.9.9"
    sent["type"] = "Microsoft.Compute/disks"
    sent["properties"]["provisioningState"] = "Failed"
    sent["properties"]["publishingProfile"]["publishedDate"] = "2001-01-01T00:00:00+00:00"
    sent["properties"]["replicationStatus"]["aggregatedState"] = "Failed"

    response = arm.put(path, sent)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["name"]) == (path, "1.0.0")
    assert body["type"] == "Microsoft.Compute/galleries/applications/versions"
    assert body["properties"]["provisioningState"] == "Updating"
    published = body["properties"]["publishingProfile"]["publishedDate"]
    assert published == before["properties"]["publishingProfile"]["publishedDate"]
    assert "replicationStatus" not in body["properties"]


def test_put_version_read_back_unchanged_is_accepted(arm: Arm) -> None:
    path = created_version(arm, settings={"packageFileName": "app.zip"}, replicationMode="Full")

    response = arm.put(path, arm.get(path).json())

    assert response.status_code == 200, response.text


def test_put_version_leaving_fixed_properties_out_keeps_them(arm: Arm) -> None:
    path = created_version(arm, settings={"packageFileName": "app.zip"}, replicationMode="Full")
    body = version_body()
    del body["properties"]["publishingProfile"]["manageActions"]

    response = arm.put(path, body)

    assert response.status_code == 200, response.text
    profile = arm.get(path).json()["properties"]["publishingProfile"]
    assert profile["settings"] == {"packageFileName": "app.zip"}
    assert profile["replicationMode"] == "Full"
    assert profile["manageActions"] == {"install": "bash install.sh", "remove": "bash remove.sh"}


@pytest.mark.parametrize(
    ("created", "changed", "target"),
    [
        (
            {},
            {"manageActions": {"install": "bash other.sh", "remove": "bash remove.sh"}},
            "manageActions.install",
        ),
        (
            {},
            {"manageActions": {"install": "bash install.sh", "remove": "other"}},
            "manageActions.remove",
        ),
        (
            {"settings": {"packageFileName": "a.zip"}},
            {"settings": {"packageFileName": "b.zip"}},
            "settings.packageFileName",
        ),
        (
            {"storageAccountType": "Standard_LRS"},
            {"storageAccountType": "Premium_LRS"},
            "storageAccountType",
        ),
        ({"replicationMode": "Full"}, {"replicationMode": "Shallow"}, "replicationMode"),
    ],
)
def test_put_version_immutable_property_changed_returns_409(
    arm: Arm, created: dict[str, Any], changed: dict[str, Any], target: str
) -> None:
    path = created_version(arm, **created)

    response = arm.put(path, version_body(**{**created, **changed}))

    error = cloud_error(response, 409, "PropertyChangeNotAllowed")
    assert error["target"] == f"{PROFILE}.{target}"
    assert error["message"] == f"Changing property '{PROFILE}.{target}' is not allowed."


@pytest.mark.parametrize(
    "link",
    [
        "https://account.blob.core.windows.net/apps/other.zip?sv=1&sig=x",
        "https://other.blob.core.windows.net/apps/app.zip?sv=1&sig=x",
    ],
)
def test_put_version_media_link_blob_changed_returns_409(arm: Arm, link: str) -> None:
    path = created_version(arm)

    response = arm.put(path, version_body(source={"mediaLink": link}))

    error = cloud_error(response, 409, "PropertyChangeNotAllowed")
    assert error["target"] == f"{PROFILE}.source.mediaLink"
    assert error["message"].startswith(f"Changing property '{PROFILE}.source.mediaLink'")


def test_put_version_media_link_sas_changed_is_accepted(arm: Arm) -> None:
    path = created_version(arm)
    rotated = support.PACKAGE_URL_ROTATED

    response = arm.put(path, version_body(source={"mediaLink": rotated}))

    assert response.status_code == 200, response.text
    assert arm.get(path).json()["properties"]["publishingProfile"]["source"]["mediaLink"] == rotated


def test_put_application_os_type_changed_returns_409(arm: Arm) -> None:
    group, gallery, application = arm.parents()

    response = arm.put(
        application_path(group, gallery, application),
        {"location": "eastus2", "properties": {"supportedOSType": "Windows"}},
    )

    error = cloud_error(response, 409, "PropertyChangeNotAllowed")
    assert error["target"] == "galleryApplication.properties.supportedOSType"


def test_put_version_replicated_region_removed_returns_400(arm: Arm) -> None:
    regions = [{"name": "eastus2"}, {"name": "westus2"}]
    path = created_version(arm, targetRegions=regions)

    response = arm.put(path, version_body(targetRegions=[{"name": "eastus2"}]))

    error = cloud_error(response, 400, "BadRequest")
    assert error["message"].startswith(
        "Complete set of target locations not specified while updating gallery artifact "
        "'1.0.0' and type 'GalleryApplicationVersion'. Deletion of previously replicated "
        "locations is not allowed"
    )
    assert "West US 2" in error["message"]
    assert "safetyProfile.allowDeletionOfReplicatedLocations" in error["message"]


def test_put_version_replicated_region_removed_with_safety_flag_is_accepted(arm: Arm) -> None:
    regions = [{"name": "eastus2"}, {"name": "westus2"}]
    path = created_version(arm, targetRegions=regions)
    body = version_body(targetRegions=[{"name": "eastus2"}])
    body["properties"]["safetyProfile"] = {"allowDeletionOfReplicatedLocations": True}

    response = arm.put(path, body)

    assert response.status_code == 200, response.text
    kept = response.json()["properties"]["publishingProfile"]["targetRegions"]
    assert [region["name"] for region in kept] == ["East US 2"]


# -- missing parents and resources -------------------------------------------------------------


def test_put_version_under_missing_gallery_returns_404(arm: Arm) -> None:
    group = unique("rg")
    arm.create_group(group)

    response = arm.put(version_path(group, "nogallery", "noapp", "1.0.0"), version_body())

    error = cloud_error(response, 404, "ParentResourceNotFound")
    assert error["message"] == (
        "Can not perform requested operation on nested resource. "
        "Parent resource 'nogallery/noapp' not found."
    )


def test_put_version_under_missing_application_returns_404(
    arm: Arm, parents: tuple[str, str, str]
) -> None:
    group, gallery, _ = parents

    response = arm.put(version_path(group, gallery, "noapp", "1.0.0"), version_body())

    error = cloud_error(response, 404, "ParentResourceNotFound")
    assert f"Parent resource '{gallery}/noapp' not found." in error["message"]


def test_put_application_under_missing_gallery_returns_404(arm: Arm) -> None:
    group = unique("rg")
    arm.create_group(group)

    response = arm.put(
        application_path(group, "nogallery", "app"),
        {"location": "eastus2", "properties": {"supportedOSType": "Linux"}},
    )

    error = cloud_error(response, 404, "ParentResourceNotFound")
    assert "Parent resource 'nogallery' not found." in error["message"]


@pytest.mark.parametrize("method", ["PUT", "GET", "PATCH", "DELETE"])
def test_request_version_under_missing_group_returns_404(arm: Arm, method: str) -> None:
    group = unique("rg")
    body = version_body() if method in ("PUT", "PATCH") else None

    response = arm.request(method, version_path(group, "gal", "app", "1.0.0"), body=body)

    error = cloud_error(response, 404, "ResourceGroupNotFound")
    assert error["message"] == f"Resource group '{group}' could not be found."


def test_get_version_missing_returns_404(arm: Arm, parents: tuple[str, str, str]) -> None:
    group, gallery, application = parents

    response = arm.get(version_path(group, gallery, application, "9.9.9"))

    error = cloud_error(response, 404, "ResourceNotFound")
    assert error["message"] == (
        f"The Resource 'Microsoft.Compute/galleries/{gallery}/applications/{application}/"
        f"versions/9.9.9' under resource group '{group}' was not found. For more details "
        "please go to https://aka.ms/ARMResourceNotFoundFix"
    )


def test_patch_version_missing_returns_404(arm: Arm, new_version: str) -> None:
    response = arm.request("PATCH", new_version, body={"tags": {"a": "b"}})

    cloud_error(response, 404, "ResourceNotFound")


@pytest.mark.parametrize(
    "subscription", ["not-a-guid", "0000", "00000000-0000-0000-0000-00000000000g"]
)
def test_request_malformed_subscription_returns_400(arm: Arm, subscription: str) -> None:
    path = resource_group_path("rg", subscription) + "/providers/Microsoft.Compute/galleries/gal"

    response = arm.get(path)

    error = cloud_error(response, 400, "InvalidSubscriptionId")
    assert f"'{subscription}'" in error["message"]


# -- parents with children ---------------------------------------------------------------------


def test_delete_gallery_with_application_returns_409(arm: Arm) -> None:
    group, gallery, application = arm.parents()

    response = arm.request("DELETE", gallery_path(group, gallery))

    error = cloud_error(response, 409, "CannotDeleteResource")
    assert error["message"] == (
        "Cannot delete resource while nested resources exist. Some existing nested resource "
        f"IDs include: '{application_path(group, gallery, application)}'. Please delete all "
        "nested resources before deleting this resource."
    )
    assert arm.get(gallery_path(group, gallery)).status_code == 200


def test_delete_application_with_version_returns_409(arm: Arm) -> None:
    path = created_version(arm)

    response = arm.request("DELETE", path.rsplit("/versions/", 1)[0])

    error = cloud_error(response, 409, "CannotDeleteResource")
    assert f"'{path}'" in error["message"]
    assert arm.get(path).status_code == 200


# -- query parameters --------------------------------------------------------------------------


def test_get_version_unknown_expand_returns_400(arm: Arm) -> None:
    path = created_version(arm)

    response = arm.get(path, params={"$expand": "Foo"})

    message = invalid_parameter(response, "$expand")
    assert message.startswith("The value 'Foo' of parameter '$expand' is not allowed.")
    assert "ReplicationStatus" in message


def test_get_version_expand_in_other_case_returns_replication_status(arm: Arm) -> None:
    path = created_version(arm)

    response = arm.get(path, params={"$expand": "replicationstatus"})

    assert response.status_code == 200, response.text
    status = response.json()["properties"]["replicationStatus"]
    assert status["aggregatedState"] == "Completed"
    assert status["summary"] == [
        {"region": "East US 2", "state": "Completed", "details": "", "progress": 100}
    ]


@pytest.mark.parametrize("top", ["0", "-1", "abc"])
def test_list_versions_invalid_top_returns_400(
    arm: Arm, parents: tuple[str, str, str], top: str
) -> None:
    path = version_path(*parents, "1.0.0").rsplit("/", 1)[0]

    response = arm.get(path, params={"$top": top})

    invalid_parameter(response, "$top")


def test_request_missing_api_version_returns_400(arm: Arm, new_version: str) -> None:
    response = arm.request("GET", new_version, api_version=None)

    error = cloud_error(response, 400, "MissingApiVersionParameter")
    assert error["message"] == (
        "The api-version query parameter (?api-version=) is required for all requests."
    )


def test_request_unknown_api_version_returns_400(arm: Arm, new_version: str) -> None:
    response = arm.request("GET", new_version, api_version="2010-01-01")

    error = cloud_error(response, 400, "NoRegisteredProviderFound")
    assert (
        "API version '2010-01-01' for type 'galleries/applications/versions'" in (error["message"])
    )


def test_patch_version_storage_type_over_stored_strategy_returns_409(arm: Arm) -> None:
    path = created_version(arm)  # 2025-03-03 defaults to the PreferStandard_ZRS strategy

    response = arm.request(
        "PATCH",
        path,
        body={"properties": {"publishingProfile": {"storageAccountType": "Standard_LRS"}}},
    )

    error = cloud_error(response, 409, "PropertyChangeNotAllowed")
    assert error["target"] == f"{PROFILE}.storageAccountType"
