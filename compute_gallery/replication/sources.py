"""Package sources: streaming reads of ``mediaLink`` and ``defaultConfigurationLink``.

A source is read once, front to back, in chunks of ``CHUNK`` bytes, so that memory stays
bounded whatever its size. Every way a source can be unusable ends in a ``SourceError`` whose
message is the text Compute gives for that cause, naming the URL with its SAS signature
redacted.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import re
import ssl
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import unquote, urljoin, urlsplit

from ..settings import ReplicationSettings
from . import sizes

if TYPE_CHECKING:
    import aiohttp

CHUNK = 1024 * 1024
MAX_REDIRECTS = 10
_REDIRECTS = {301, 302, 303, 307, 308}
# Compute accepts page and block blobs; a plain HTTP server sends no blob type at all.
_BLOB_TYPES = {"blockblob", "pageblob"}
_SIGNATURE = re.compile(r"(?i)(^|&)(sig=)[^&]*")


class SourceError(Exception):
    """A source that cannot be used; the message is Compute's text for the cause."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def redact(url: str) -> str:
    """``url`` with the value of its SAS signature (``sig=``) replaced, fit for messages."""
    base, mark, query = url.partition("?")
    if not mark:
        return url
    return base + "?" + _SIGNATURE.sub(r"\1\2REDACTED", query)


def identity(url: str | None) -> str | None:
    """What names a source regardless of its SAS: scheme, host and path (the query dropped)."""
    if url is None:
        return None
    return _identity(url)


@functools.lru_cache(maxsize=1024)
def _identity(url: str) -> str:
    # A version's links are compared with its recorded sources at every replacement.
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}"


def _unreachable(url: str, cause: str) -> SourceError:
    return SourceError(
        f"The gallery application version url {redact(url)} cannot be accessed due to the "
        f"following error: {cause}. Ensure that the blob exists and that it is either publicly "
        "accessible or is a SAS url with read privileges."
    )


def _missing(url: str) -> SourceError:
    return SourceError(f"The blob referenced by source uri {redact(url)} does not exist.")


def _too_large(url: str, size: str, limit: int) -> SourceError:
    return SourceError(
        f"The blob referenced by source uri {redact(url)} is too large: size = {size}. The "
        f"maximum blob size allowed is '{sizes.describe(limit)}'."
    )


def _empty(url: str) -> SourceError:
    return SourceError(f"The blob referenced by source uri {redact(url)} is empty.")


@dataclass
class Download:
    """An open source: its size when the source announced one, and its bytes in chunks."""

    size: int | None
    chunks: AsyncIterator[bytes]


class Sources:
    """Opens sources for reading; one HTTP client, created at the first fetch, for all of them."""

    def __init__(self, settings: ReplicationSettings, executor: Executor) -> None:
        self._settings = settings
        self._executor = executor
        self._client: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @asynccontextmanager
    async def open(self, url: str, limit: int) -> AsyncIterator[Download]:
        """Open ``url`` for one read of at most ``limit`` bytes; SourceError if it is unusable."""
        scheme = urlsplit(url).scheme.lower()
        if scheme == "file" and self._settings.allow_file_sources:
            handle, download = self._open_file(url, limit)
            try:
                yield download
            finally:
                handle.close()
            return
        if scheme not in ("http", "https"):
            raise _unreachable(url, f"the scheme '{scheme}' is not supported")
        async with self._open_http(url, limit) as download:
            yield download

    def _check_host(self, url: str, target: str) -> None:
        """Refuse ``target`` (``url`` or where it redirects) on a host the operator excluded."""
        allowed = self._settings.source_hosts
        host = (urlsplit(target).hostname or "").lower()
        if allowed is not None and host not in allowed:
            raise _unreachable(url, f"the host '{host}' is not one this service may fetch from")

    # -- HTTP(S) -------------------------------------------------------------------------

    def _http_client(self) -> aiohttp.ClientSession:
        # Imported here: aiohttp costs a fifth of a second at start and many runs never fetch.
        import aiohttp

        if self._client is None:
            context = ssl.create_default_context()
            if self._settings.source_ca_file is not None:
                context.load_verify_locations(cafile=str(self._settings.source_ca_file))
            seconds = self._settings.source_timeout_seconds
            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds),
                # A replica holds the blob's stored bytes: no transfer encoding undone, none
                # asked for.
                auto_decompress=False,
                headers={"Accept-Encoding": "identity"},
            )
        return self._client

    @asynccontextmanager
    async def _open_http(self, url: str, limit: int) -> AsyncIterator[Download]:
        import aiohttp

        client = self._http_client()
        target = url
        # Redirects are followed here, not by aiohttp, so that each hop's host is checked
        # before it is connected to.
        for _ in range(MAX_REDIRECTS + 1):
            self._check_host(url, target)
            try:
                response = await client.get(target, allow_redirects=False)
            except (aiohttp.ClientError, TimeoutError, ValueError) as error:
                raise self._http_failure(url, error) from None
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or location is None:
                break
            response.release()
            target = urljoin(target, location)
        else:
            raise _unreachable(url, f"the server redirected more than {MAX_REDIRECTS} times")
        async with response:
            _check_response(url, response)
            size = response.content_length
            if size is not None and size > limit:
                raise _too_large(url, str(size), limit)
            if size == 0:
                raise _empty(url)
            yield Download(size, self._http_chunks(url, response, limit))

    async def _http_chunks(
        self, url: str, response: aiohttp.ClientResponse, limit: int
    ) -> AsyncIterator[bytes]:
        import aiohttp

        total = 0
        while True:
            try:
                chunk = await response.content.readexactly(CHUNK)
                last = False
            except asyncio.IncompleteReadError as end:
                chunk, last = end.partial, True
            except (aiohttp.ClientError, TimeoutError) as error:
                raise self._http_failure(url, error) from None
            total += len(chunk)
            if total > limit:
                raise _too_large(url, f"more than {total - len(chunk)}", limit)
            if last:
                if total == 0:
                    raise _empty(url)
                if chunk:
                    yield chunk
                return
            yield chunk

    def _http_failure(self, url: str, error: BaseException) -> SourceError:
        import aiohttp

        if isinstance(error, TimeoutError):
            seconds = self._settings.source_timeout_seconds
            return _unreachable(url, f"the server did not answer within {seconds:g} seconds")
        if isinstance(error, aiohttp.ClientConnectorCertificateError):
            return _unreachable(
                url, f"the server's certificate is not trusted ({error.certificate_error})"
            )
        if isinstance(error, aiohttp.ClientConnectorDNSError):
            return _unreachable(url, "the remote name could not be resolved")
        if isinstance(error, aiohttp.ClientConnectorError):
            if error.errno == errno.ECONNREFUSED:
                return _unreachable(url, "the connection was refused")
            return _unreachable(url, f"the connection failed ({error.strerror or error})")
        if isinstance(error, aiohttp.ClientPayloadError):
            return _unreachable(url, "the connection closed before the whole blob was read")
        if isinstance(error, aiohttp.InvalidURL | ValueError):
            return _unreachable(url, "the url is not valid")
        return _unreachable(url, str(error) or type(error).__name__)

    # -- file: ---------------------------------------------------------------------------

    def _open_file(self, url: str, limit: int) -> tuple[BinaryIO, Download]:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise _unreachable(url, "a file url must name a local path")
        path = Path(unquote(parts.path))
        try:
            size = path.stat().st_size
            if path.is_dir():
                raise _unreachable(url, "the path is a directory")
            handle = path.open("rb")
        except FileNotFoundError:
            raise _missing(url) from None
        except PermissionError:
            raise _unreachable(url, "permission denied") from None
        except OSError as error:
            raise _unreachable(url, os.strerror(error.errno or 0) or str(error)) from None
        if size > limit:
            handle.close()
            raise _too_large(url, str(size), limit)
        if size == 0:
            handle.close()
            raise _empty(url)
        return handle, Download(size, self._file_chunks(url, handle, limit))

    async def _file_chunks(self, url: str, handle: BinaryIO, limit: int) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        total = 0
        while chunk := await loop.run_in_executor(self._executor, handle.read, CHUNK):
            total += len(chunk)
            if total > limit:
                raise _too_large(url, f"more than {total - len(chunk)}", limit)
            yield chunk


def _check_response(url: str, response: aiohttp.ClientResponse) -> None:
    """Compute's answer for a source that did not hand over a page or block blob."""
    if response.status == 404:
        raise _missing(url)
    if response.status in (401, 403):
        raise SourceError(f"The SAS is not valid for source uri {redact(url)}.")
    if response.status != 200:
        raise _unreachable(
            url, f"the server answered {response.status} {response.reason or ''}".rstrip()
        )
    blob_type = response.headers.get("x-ms-blob-type")
    if blob_type is not None and blob_type.lower() not in _BLOB_TYPES:
        raise SourceError(
            f"{blob_type} blob type is not supported for CreateOrUpdateGalleryApplicationVersion "
            "operation. Only page blobs and block blobs are supported."
        )
