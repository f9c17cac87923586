"""Reading package sources: streaming in chunks, limits, and Compute's text for each failure."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from compute_gallery import tls
from compute_gallery.replication.sources import CHUNK, SourceError, Sources, identity, redact
from compute_gallery.settings import ReplicationSettings

from .http_sources import Resource, refused, serving, silent

LIMIT = 8 * 1024 * 1024


def read(url: str, limit: int = LIMIT, **options: Any) -> tuple[int | None, list[bytes]]:
    """Open ``url`` with a fresh ``Sources``; the announced size and the chunks read."""
    settings = dataclasses.replace(ReplicationSettings(), **options)

    async def run() -> tuple[int | None, list[bytes]]:
        with ThreadPoolExecutor(2) as executor:
            sources = Sources(settings, executor)
            try:
                async with sources.open(url, limit) as download:
                    return download.size, [chunk async for chunk in download.chunks]
            finally:
                await sources.close()

    return asyncio.run(run())


def failure(url: str, limit: int = LIMIT, **options: Any) -> str:
    with pytest.raises(SourceError) as raised:
        read(url, limit, **options)
    return raised.value.message


def unreachable(url: str, cause: str) -> str:
    return (
        f"The gallery application version url {url} cannot be accessed due to the following "
        f"error: {cause}. Ensure that the blob exists and that it is either publicly accessible "
        "or is a SAS url with read privileges."
    )


def test_redact_replaces_the_signature_value_only() -> None:
    url = "https://a.blob.core.windows.net/c/app.zip?sv=2024-01-01&SIG=ab%2Bc%3D&se=2030"

    assert (
        redact(url)
        == "https://a.blob.core.windows.net/c/app.zip?sv=2024-01-01&SIG=REDACTED&se=2030"
    )
    assert redact("https://host/app.zip") == "https://host/app.zip"
    assert redact("https://host/app.zip?sig=x") == "https://host/app.zip?sig=REDACTED"
    assert redact("https://host/app.zip?design=1") == "https://host/app.zip?design=1"


def test_identity_ignores_the_query_and_the_case_of_scheme_and_host() -> None:
    assert identity("HTTPS://Acct.Blob.Core.Windows.Net/c/App.zip?sig=1") == (
        "https://acct.blob.core.windows.net/c/App.zip"
    )
    assert identity(None) is None


def test_read_streams_every_byte_in_fixed_chunks() -> None:
    body = os.urandom(3 * CHUNK + 5)
    with serving({"/app.zip": Resource(body)}) as base:
        size, chunks = read(f"{base}/app.zip?sv=1&sig=x")

    assert size == len(body)
    assert b"".join(chunks) == body
    assert [len(chunk) for chunk in chunks] == [CHUNK, CHUNK, CHUNK, 5]


def test_read_without_content_length_reads_to_the_end() -> None:
    body = os.urandom(CHUNK + 100)
    with serving({"/app.zip": Resource(body, length=False)}) as base:
        size, chunks = read(f"{base}/app.zip")

    assert size is None
    assert b"".join(chunks) == body


def test_read_keeps_an_encoded_blob_as_stored() -> None:
    body = os.urandom(1000)  # not gzip data: the header alone must not make it decoded
    with serving({"/app.gz": Resource(body, headers={"Content-Encoding": "gzip"})}) as base:
        _, chunks = read(f"{base}/app.gz")

    assert b"".join(chunks) == body


def test_read_missing_blob_fails_with_does_not_exist() -> None:
    with serving({}) as base:
        message = failure(f"{base}/gone.zip?sv=1&sig=secret")

    assert message == (
        f"The blob referenced by source uri {base}/gone.zip?sv=1&sig=REDACTED does not exist."
    )


@pytest.mark.parametrize("status", [401, 403])
def test_read_forbidden_fails_with_sas_not_valid(status: int) -> None:
    with serving({"/app.zip": Resource(b"denied", status=status)}) as base:
        message = failure(f"{base}/app.zip?sv=1&sig=secret")

    assert message == f"The SAS is not valid for source uri {base}/app.zip?sv=1&sig=REDACTED."
    assert "secret" not in message


def test_read_server_error_names_the_status() -> None:
    with serving({"/app.zip": Resource(b"oops", status=500)}) as base:
        message = failure(f"{base}/app.zip")

    assert message == unreachable(
        f"{base}/app.zip", "the server answered 500 Internal Server Error"
    )


def test_read_append_blob_fails_as_unsupported_type() -> None:
    headers = {"x-ms-blob-type": "AppendBlob"}
    with serving({"/app.log": Resource(b"log", headers=headers)}) as base:
        message = failure(f"{base}/app.log")

    assert message == (
        "AppendBlob blob type is not supported for CreateOrUpdateGalleryApplicationVersion "
        "operation. Only page blobs and block blobs are supported."
    )


def test_read_announced_size_over_the_limit_fails_before_reading() -> None:
    with serving({"/big.zip": Resource(os.urandom(5000))}) as base:
        message = failure(f"{base}/big.zip", limit=4096)

    assert message == (
        f"The blob referenced by source uri {base}/big.zip is too large: size = 5000. The "
        "maximum blob size allowed is '4 KB'."
    )


def test_read_unannounced_size_over_the_limit_fails_while_reading() -> None:
    with serving({"/big.zip": Resource(os.urandom(3 * CHUNK), length=False)}) as base:
        message = failure(f"{base}/big.zip", limit=2 * CHUNK)

    assert message == (
        f"The blob referenced by source uri {base}/big.zip is too large: size = more than "
        f"{2 * CHUNK}. The maximum blob size allowed is '2 MB'."
    )


@pytest.mark.parametrize("length", [True, False])
def test_read_empty_blob_fails_as_empty(length: bool) -> None:
    with serving({"/empty.zip": Resource(b"", length=length)}) as base:
        message = failure(f"{base}/empty.zip")

    assert message == f"The blob referenced by source uri {base}/empty.zip is empty."


def test_read_refused_connection_says_so() -> None:
    base = refused()

    assert failure(f"{base}/app.zip") == unreachable(
        f"{base}/app.zip", "the connection was refused"
    )


def test_read_silent_server_times_out() -> None:
    with silent() as base:
        message = failure(f"{base}/app.zip", source_timeout_seconds=0.5)

    assert message == unreachable(f"{base}/app.zip", "the server did not answer within 0.5 seconds")


def test_read_host_outside_the_allowed_ones_is_refused_before_any_lookup() -> None:
    message = failure("https://blob.example.invalid/app.zip", source_hosts=frozenset({"127.0.0.1"}))

    assert message == unreachable(
        "https://blob.example.invalid/app.zip",
        "the host 'blob.example.invalid' is not one this service may fetch from",
    )


def test_read_https_needs_the_extra_ca_for_a_private_certificate(tmp_path: Path) -> None:
    certificates = tls.ensure(tmp_path / "tls", "127.0.0.1")
    body = os.urandom(2048)
    pair = (certificates.server_cert, certificates.server_key)
    with serving({"/app.zip": Resource(body)}, certificate=pair) as base:
        untrusted = failure(f"{base}/app.zip")
        _, chunks = read(f"{base}/app.zip", source_ca_file=certificates.ca_cert)

    assert untrusted.startswith(
        f"The gallery application version url {base}/app.zip cannot be accessed due to the "
        "following error: the server's certificate is not trusted ("
    )
    assert b"".join(chunks) == body


def test_read_file_url_only_when_allowed(tmp_path: Path) -> None:
    package = tmp_path / "app package.zip"
    package.write_bytes(os.urandom(CHUNK + 1))
    url = package.as_uri()

    _, chunks = read(url, allow_file_sources=True)

    assert b"".join(chunks) == package.read_bytes()
    assert failure(url) == unreachable(url, "the scheme 'file' is not supported")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("missing.zip", "does not exist"), ("folder", "the path is a directory")],
)
def test_read_unusable_file_url_fails(tmp_path: Path, name: str, expected: str) -> None:
    (tmp_path / "folder").mkdir()
    message = failure((tmp_path / name).as_uri(), allow_file_sources=True)

    assert expected in message


def test_read_follows_redirects_but_only_to_allowed_hosts() -> None:
    body = os.urandom(5000)
    with serving({"/app.zip": Resource(body)}) as base:
        moved = {"/old.zip": Resource(b"", status=302, headers={"Location": f"{base}/app.zip"})}
        away = {
            "/old.zip": Resource(b"", status=307, headers={"Location": "http://blob.invalid/x"})
        }
        with serving(moved) as first, serving(away) as second:
            _, chunks = read(f"{first}/old.zip", source_hosts=frozenset({"127.0.0.1"}))
            message = failure(f"{second}/old.zip", source_hosts=frozenset({"127.0.0.1"}))

    assert b"".join(chunks) == body
    assert message == unreachable(
        f"{second}/old.zip", "the host 'blob.invalid' is not one this service may fetch from"
    )
