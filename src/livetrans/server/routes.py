"""Plain HTTP routes, answered from websockets' ``process_request`` hook.

``/healthz``, ``/metrics``, ``/v1/streams`` and ``/overlay``; WebSocket paths
return ``None`` so the handshake goes on; anything else is a 404. Static files
are read once from the package (``server/static``) so no build step is needed.
"""

from __future__ import annotations

import email.utils
import http
import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import unquote

from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from ..errors import ProtocolError
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .protocol import PROTOCOL_VERSION, bearer_token, check_stream_name, parse_route

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


def _local_listing(server: CaptionServer) -> list[dict[str, object]]:
    known = server.all_streams()
    return [
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
        }
        for s in sorted(known.values(), key=lambda s: s.name)
    ]


async def streams_listing(server: CaptionServer) -> dict[str, object]:
    """/v1/streams: this process's streams, or on an edge every broadcast the bus knows."""
    streams = await server.edge.listing() if server.edge is not None else _local_listing(server)
    for entry in streams:
        entry["captions_url"] = f"{server.ws_url}/v1/streams/{entry['name']}/captions"
        entry["hls"] = server.hls_listing(str(entry["name"]))
    return {"protocol": PROTOCOL_VERSION, "role": server.config.role, "streams": streams}


def health(server: CaptionServer) -> dict[str, object]:
    """/healthz: ``ok``, or ``degraded`` while Redis is unreachable (the process still
    serves: workers caption into their buffers, edges keep their viewers)."""
    known = server.all_streams()
    body: dict[str, object] = {
        "status": "ok",
        "role": server.config.role,
        "streams": len(known),
        "live": sum(s.live for s in known.values()),
    }
    if server.bus is not None:
        body["bus"] = "ok" if server.bus.healthy else "unreachable"
        if not server.bus.healthy:
            body["status"] = "degraded"
            body["error"] = server.bus.last_error
    return body


async def hls_response(server: CaptionServer, request: Request, path: str, query: Mapping[str, str]) -> Response:
    """/hls/...: on an edge, the broadcast is mirrored from the bus first (a player's
    requests keep the mirror warm as a viewer's connection does)."""
    parts = [unquote(p) for p in path.split("/") if p]
    attached = False
    if server.edge is not None and len(parts) >= 2:
        try:
            attached = await server.edge.attach(check_stream_name(parts[1])) is not None
        except ProtocolError:
            pass  # the HLS service answers 404 for it
        except RedisError as e:
            return make_response(503, f"Redis unreachable from this edge ({e}); retry shortly\n".encode(),
                                 "text/plain; charset=utf-8")
    try:
        answer = server.hls.http_response(request, query, server.request_base_url(request))
        return answer if isinstance(answer, Response) else await answer
    finally:
        if attached:
            assert server.edge is not None
            server.edge.release(parts[1])


async def http_response(server: CaptionServer, connection: ServerConnection, request: Request) -> Response | None:
    route = parse_route(request.path)
    if route.kind in ("ingest", "captions"):
        return None  # the WebSocket handler checks tokens and names, with close codes
    if route.kind == "hls":
        return await hls_response(server, request, route.path, route.query or {})
    if route.kind == "unknown":
        return make_response(404, f"nothing at {route.path}; see /v1/streams, /overlay, /healthz, /metrics\n".encode(),
                             "text/plain; charset=utf-8")
    path = route.path
    if path == "/healthz":
        return json_response(200, health(server))
    if path == "/metrics":
        return make_response(200, server.metrics.render(), METRICS_CONTENT_TYPE)
    if path == "/v1/streams":
        token = bearer_token(request.headers, route.query or {})
        if not server.token_ok(token, server.config.viewer_token):
            return json_response(401, {"error": "missing or wrong token: add ?token=<viewer token>"})
        try:
            return json_response(200, await streams_listing(server))
        except RedisError as e:
            return json_response(503, {"error": f"Redis unreachable from this edge ({e}); retry shortly"})
    if path in ("/overlay", "/"):
        if path == "/":
            return make_response(302, b"", "text/plain", (("Location", "/overlay"),))
        return make_response(200, static_file("overlay.html"), "text/html; charset=utf-8")
    return make_response(404, b"not found\n", "text/plain; charset=utf-8")
