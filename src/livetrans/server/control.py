"""The control API: authenticated HTTP calls that carry a body (socket shell over h11).

The caption port answers plain HTTP from websockets' handshake hook, and
websockets' HTTP parser refuses any request with a body. Calls that change a
live stream need one, so they have their own small listener (``--control-port``),
parsed with h11 (a sans-I/O HTTP/1.1 library). One call today::

    PUT /v1/streams/{name}/vocabulary     Authorization: Bearer <ingest token>
    {"terms": [...]}                      the --glossary JSON format (docs/translation.md)

It replaces the stream's vocabulary from its next utterance on, wherever the
stream runs: in this process, or, scaled out, on whichever worker owns it
(through the bus). Answers are JSON: 200 ``{"stream","terms","applies"}``;
400 bad vocabulary (the reason says which entry); 401; 404 no live stream of
that name; 405; 413 over ``MAX_BODY_BYTES``; 503 Redis unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import h11

from ..errors import LivetransError, ProtocolError
from .protocol import bearer_token, check_stream_name

if TYPE_CHECKING:
    from .app import CaptionServer

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20  # like an ingest message
READ_TIMEOUT = 10.0  # seconds for a client to send its whole request
DISCARD_TIMEOUT = 2.0  # seconds to read away a refused body before closing


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ControlListener:
    def __init__(self, server: CaptionServer) -> None:
        self.server = server
        self._listener: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self._listener = await asyncio.start_server(self._serve, host, port)

    @property
    def port(self) -> int:
        assert self._listener is not None, "not started"
        return int(self._listener.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
            self._listener = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER)
        try:
            try:
                request, body = await asyncio.wait_for(_read_request(connection, reader), READ_TIMEOUT)
                status, answer = 200, await self._dispatch(request, body)
            except ControlError as e:
                status, answer = e.status, {"error": str(e)}
            except TimeoutError:
                status, answer = 408, {"error": f"the request did not arrive within {READ_TIMEOUT:g} s"}
            except h11.RemoteProtocolError as e:
                status, answer = 400, {"error": f"malformed HTTP request: {e}"}
            data = (json.dumps(answer, ensure_ascii=False) + "\n").encode("utf-8")
            if connection.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                writer.write(connection.send(h11.Response(status_code=status, headers=[
                    ("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(data))),
                    ("Connection", "close")])) or b"")
                writer.write(connection.send(h11.Data(data=data)) or b"")
                writer.write(connection.send(h11.EndOfMessage()) or b"")
                await writer.drain()
            if connection.their_state is not h11.DONE:
                # A refused body still on its way: read it away, so that closing does not
                # reset the connection before the client has read the answer.
                writer.write_eof()
                with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
                    await asyncio.wait_for(_discard(reader), DISCARD_TIMEOUT)
        except (ConnectionError, h11.LocalProtocolError) as e:
            logger.debug("control connection: %s", e)
        finally:
            writer.close()

    async def _dispatch(self, request: h11.Request, body: bytes) -> dict[str, Any]:
        target = request.target.decode("latin-1")
        parts = [unquote(p) for p in urlsplit(target).path.split("/") if p]
        if len(parts) != 4 or parts[:2] != ["v1", "streams"] or parts[3] != "vocabulary":
            raise ControlError(404, f"nothing at {urlsplit(target).path}; the control API has "
                                    "PUT /v1/streams/<name>/vocabulary")
        if request.method != b"PUT":
            raise ControlError(405, "use PUT with the vocabulary as a JSON body")
        headers = {k.decode("latin-1").title(): v.decode("latin-1") for k, v in request.headers}
        if not self.server.token_ok(bearer_token(headers, {}), self.server.config.token):
            raise ControlError(401, "missing or wrong token: send 'Authorization: Bearer <ingest token>'")
        try:
            name = check_stream_name(parts[2])
            data = json.loads(body)
        except ProtocolError as e:
            raise ControlError(400, str(e)) from e
        except (ValueError, UnicodeDecodeError) as e:
            raise ControlError(400, f"the body is not JSON: {e}") from e
        if not isinstance(data, dict):
            raise ControlError(400, 'the body must be a JSON object: {"terms": [...]}')
        try:
            terms = await self.server.update_vocabulary(name, data)
        except LookupError as e:
            raise ControlError(404, str(e)) from e
        except ProtocolError as e:
            raise ControlError(400, str(e)) from e
        except LivetransError as e:
            raise ControlError(503, str(e)) from e
        return {"stream": name, "terms": terms, "applies": "from the next utterance"}


async def _discard(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def _read_request(connection: h11.Connection, reader: asyncio.StreamReader) -> tuple[h11.Request, bytes]:
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            connection.receive_data(data)
            if not data and connection.their_state is not h11.DONE:
                raise ConnectionError("the client closed before its request was complete")
            continue
        if isinstance(event, h11.Request):
            request = event
            length = dict(event.headers).get(b"content-length")
            if length is not None and int(length) > MAX_BODY_BYTES:
                raise ControlError(413, f"the body is over {MAX_BODY_BYTES} bytes")
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY_BYTES:
                raise ControlError(413, f"the body is over {MAX_BODY_BYTES} bytes")
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request, bytes(body)
        elif isinstance(event, h11.ConnectionClosed):
            raise ConnectionError("the client closed before its request was complete")
