"""The ASGI application: every ARM request runs through one pipeline in a fixed order.

context (request ids) -> routing -> api-version -> authentication -> subscription ->
authorisation -> handler (body parsing, validation, behaviour, storage) -> response shaping
(lists cut to what the caller may read); any ArmError raised on the way becomes a CloudError
in ``_error_reply``, and anything else a 500 CloudError, so that no request ever ends without
Azure's error shape. The token issuer and the cloud metadata need no token and are answered
before the pipeline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from . import __version__, guids, schema
from .arm import apiversions, errors
from .arm.ids import check_subscription
from .arm.request import ArmRequest, Reply
from .service import Service
from .storage import InUse, SchemaTooNew, Unavailable

log = logging.getLogger("compute_gallery.requests")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 4 * 1024 * 1024
_UNAVAILABLE_RETRY_SECONDS = "2"

_COMMON_HEADERS = [
    (b"cache-control", b"no-cache"),
    (b"pragma", b"no-cache"),
    (b"expires", b"-1"),
    (b"x-content-type-options", b"nosniff"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]
_JSON = (b"content-type", b"application/json; charset=utf-8")


class App:
    """The ASGI entry point: ``/_emulator/`` for the emulator's own surface, ARM for the rest."""

    def __init__(self, service: Service) -> None:
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        request_id = guids.random_guid()
        correlation_id = headers.get("x-ms-correlation-request-id") or request_id
        path: str = scope["path"]
        method: str = scope["method"]

        if path.startswith("/_emulator/"):
            reply = await self._emulator(method, path)
        elif self.service.identity.serves(method, path):
            reply = self.service.identity.answer(
                method,
                path,
                _query(scope),
                headers,
                await _read_body(receive, headers) or b"",
                _base_url(scope, headers),
            )
        else:
            body = await _read_body(receive, headers)
            reply = await self._arm(scope, method, path, headers, body)

        response_headers = [
            *_COMMON_HEADERS,
            (b"x-ms-request-id", request_id.encode()),
            (b"x-ms-correlation-request-id", correlation_id.encode()),
        ]
        client_request_id = headers.get("x-ms-client-request-id")
        if client_request_id and headers.get("x-ms-return-client-request-id", "").lower() == "true":
            response_headers.append((b"x-ms-client-request-id", client_request_id.encode()))
        for name, value in reply.headers.items():
            response_headers.append((name.lower().encode(), value.encode()))
        payload = b""
        if reply.body is not None:
            payload = orjson.dumps(reply.body)
            response_headers.append(_JSON)
        response_headers.append((b"content-length", str(len(payload)).encode()))
        await send(
            {"type": "http.response.start", "status": reply.status, "headers": response_headers}
        )
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else payload})
        log.info(
            "%s %s %d %.1fms %s",
            method,
            path,
            reply.status,
            (time.perf_counter() - started) * 1000,
            request_id,
        )

    async def _arm(
        self, scope: Scope, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> Reply:
        access = self.service.identity.access
        try:
            if body is None:
                raise errors.ArmError(
                    f"The request content is larger than the {MAX_BODY // (1024 * 1024)} MiB "
                    "the service accepts.",
                    code="RequestEntityTooLarge",
                    status=413,
                )
            try:
                route, handler, params = self.service.router.resolve(method, path)
            except errors.ArmError:
                # ARM authenticates before it looks for the resource type.
                await access.authenticate(headers)
                raise
            query = _query(scope)
            request = ArmRequest(
                method=method,
                path=path,
                query=query,
                headers=headers,
                body=body,
                base_url=_base_url(scope, headers),
                params=params,
            )
            request.api_version = apiversions.require(query.get("api-version"))
            if route.api_versions is not None:
                apiversions.check_listed(request.api_version, route.api_versions)
            elif route.provider == "Microsoft.Resources":
                apiversions.check_resources(request.api_version)
            elif request.api_version not in schema.API_VERSIONS:
                apiversions.check_compute(
                    request.api_version,
                    schema.API_VERSIONS,
                    route.type_name,
                    await self._location_hint(request),
                )
            request.caller = await access.authenticate(headers)
            if "subscriptionid" in params:
                check_subscription(params["subscriptionid"])
            await access.authorize(self.service, route, request)
            if body and method in ("PUT", "PATCH"):
                _check_media_type(headers.get("content-type"))
            return access.visible(route, request, await handler(self.service, request))
        except errors.ArmError as error:
            return _error_reply(error)
        except Unavailable as error:
            log.warning("store unavailable serving %s %s: %s", method, path, error)
            return _error_reply(
                errors.ServiceUnavailable(
                    "The service cannot serve the request right now: its database is "
                    "unreachable or too busy. Retry the request after the interval in the "
                    "Retry-After header.",
                    headers={"Retry-After": _UNAVAILABLE_RETRY_SECONDS},
                )
            )
        except Exception:
            log.exception("unexpected error serving %s %s", method, path)
            return _error_reply(
                errors.InternalServerError(
                    "The server encountered an internal error. Retry the request; if it keeps "
                    "failing, report it with the x-ms-request-id of this response."
                )
            )

    async def _location_hint(self, request: ArmRequest) -> str:
        """The location ARM names in an api-version error: the request's, else its group's."""
        try:
            location = request.json().get("location")
            if isinstance(location, str):
                return location.replace(" ", "").lower()
        except (errors.ArmError, AttributeError):
            pass
        group = request.params.get("resourcegroupname")
        if group is not None:
            sub = request.params["subscriptionid"]
            record = await self.service.store.get(
                f"/subscriptions/{sub}/resourcegroups/{group}".lower()
            )
            if record is not None:
                return str(record.body["location"])
        return "global"

    async def _emulator(self, method: str, path: str) -> Reply:
        if path == "/_emulator/health":
            # Readiness: 200 only while the service can serve requests, its store included.
            if not self.service.ready:
                return Reply(503, {"status": "starting", "version": __version__})
            problem = await self.service.store_problem()
            if problem is not None:
                return Reply(
                    503, {"status": "unavailable", "reason": problem, "version": __version__}
                )
            return Reply(200, {"status": "ok", "version": __version__})
        if path == "/_emulator/ping":
            return Reply(200, {"ping": "pong"})
        return _error_reply(
            errors.ArmError(f"There is no emulator endpoint '{path}'.", code="NotFound", status=404)
        )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.service.start()
                except (Unavailable, SchemaTooNew, InUse) as error:
                    # Expected conditions, whose messages say what to do: no traceback.
                    log.error("the service could not start: %s", error)
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                except Exception as error:
                    log.exception("the service could not start")
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.service.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _check_media_type(content_type: str | None) -> None:
    """ARM reads request bodies as JSON only; a body declared as anything else is refused.

    A body without a Content-Type is read as JSON, as ARM does for the clients that omit it.
    """
    if content_type is None:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in ("", "application/json", "text/json") or media_type.endswith("+json"):
        return
    raise errors.UnsupportedMediaType(
        f"The content media type '{media_type}' is not supported. Only 'application/json' is "
        "supported."
    )


def _error_reply(error: errors.ArmError) -> Reply:
    return Reply(error.status, {"error": error.to_body()}, error.headers)


def _query(scope: Scope) -> dict[str, str]:
    """Query parameters by lower-cased name (ARM reads ``api-version`` in any case)."""
    text = scope["query_string"].decode("latin-1")
    if "%" in text or "+" in text:
        pairs = parse_qsl(text, keep_blank_values=True)
    else:
        # Nothing to decode (the usual query): parse_qsl's split, without its unquoting.
        pairs = [field.partition("=")[::2] for field in text.split("&") if field]
    return {name.lower(): value for name, value in pairs}


def _base_url(scope: Scope, headers: dict[str, str]) -> str:
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


async def _read_body(receive: Receive, headers: dict[str, str]) -> bytes | None:
    """The whole request body, or None once it exceeds MAX_BODY.

    A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112), so
    the server is not asked for one.
    """
    if "content-length" not in headers and "transfer-encoding" not in headers:
        return b""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
