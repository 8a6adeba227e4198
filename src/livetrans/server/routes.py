"""Plain HTTP routes, answered from websockets' ``process_request`` hook.

``/healthz``, ``/metrics``, ``/v1/streams`` and ``/overlay``; WebSocket paths
return ``None`` so the handshake goes on; anything else is a 404. Static files
are read once from the package (``server/static``) so no build step is needed.
"""

from __future__ import annotations

import email.utils
import http
import json
from functools import lru_cache
from importlib import resources
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .protocol import PROTOCOL_VERSION, bearer_token, parse_route

if TYPE_CHECKING:
    from .app import CaptionServer


@lru_cache(maxsize=8)
def static_file(name: str) -> bytes:
    return resources.files("livetrans.server").joinpath("static", name).read_bytes()


def make_response(
    status: int, body: bytes, content_type: str, extra: tuple[tuple[str, str], ...] = ()
) -> Response:
    code = http.HTTPStatus(status)
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
            ("Cache-Control", "no-store"),
            *extra,
        ]
    )
    return Response(code.value, code.phrase, headers, body)


def json_response(status: int, data: object) -> Response:
    body = (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    return make_response(status, body, "application/json; charset=utf-8",
                         (("Access-Control-Allow-Origin", "*"),))


def streams_listing(server: CaptionServer) -> dict[str, object]:
    return {
        "protocol": PROTOCOL_VERSION,
        "streams": [
            {
                "name": s.name,
                "live": s.live,
                "source_lang": s.source_lang,
                "languages": s.languages,
                "viewers": len(s.viewers),
                "last_seq": s.last_seq,
                "sessions": s.sessions,
                "started_at": s.started_at,
                "audio_seconds": round(s.audio_seconds, 3),
                "captions_url": f"{server.ws_url}/v1/streams/{s.name}/captions",
                "hls": server.hls_listing(s.name),
            }
            for s in sorted(server.streams.values(), key=lambda s: s.name)
        ],
    }


def http_response(
    server: CaptionServer, connection: ServerConnection, request: Request
) -> Response | Awaitable[Response] | None:
    route = parse_route(request.path)
    if route.kind in ("ingest", "captions"):
        return None  # the WebSocket handler checks tokens and names, with close codes
    if route.kind == "hls":
        return server.hls.http_response(request, route.query or {}, server.request_base_url(request))
    if route.kind == "unknown":
        return make_response(404, f"nothing at {route.path}; see /v1/streams, /overlay, /healthz, /metrics\n".encode(),
                             "text/plain; charset=utf-8")
    path = route.path
    if path == "/healthz":
        live = sum(s.live for s in server.streams.values())
        return json_response(200, {"status": "ok", "streams": len(server.streams), "live": live})
    if path == "/metrics":
        return make_response(200, server.metrics.registry.render().encode("utf-8"), METRICS_CONTENT_TYPE)
    if path == "/v1/streams":
        token = bearer_token(request.headers, route.query or {})
        if not server.token_ok(token, server.config.viewer_token):
            return json_response(401, {"error": "missing or wrong token: add ?token=<viewer token>"})
        return json_response(200, streams_listing(server))
    if path in ("/overlay", "/"):
        if path == "/":
            return make_response(302, b"", "text/plain", (("Location", "/overlay"),))
        return make_response(200, static_file("overlay.html"), "text/html; charset=utf-8")
    return make_response(404, b"not found\n", "text/plain; charset=utf-8")
