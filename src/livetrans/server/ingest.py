"""One encoder connection: ``start``, binary PCM, ``end`` -> a live stream (socket shell).

The encoder's PCM goes through ``pcm.PcmDecoder`` (any rate and channel
count, s16le or f32le -> 16 kHz mono) into a bounded queue that the stream's
pipeline reads; when the pipeline falls behind, the queue fills and reading
the socket pauses, so TCP flow control slows the encoder instead of memory
growing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ..errors import InputError, LivetransError, ProtocolError
from ..pcm import PcmDecoder
from ..types import AudioChunk
from .admission import refusal
from .bus import StreamBusy
from .protocol import (
    CloseCode,
    IngestStart,
    Route,
    bearer_token,
    check_stream_name,
    dumps,
    error_message,
    parse_ingest_start,
    parse_json_message,
    pcm_problem,
)

if TYPE_CHECKING:
    from .app import CaptionServer

logger = logging.getLogger(__name__)

AUDIO_QUEUE_CHUNKS = 64


async def serve_ingest(server: CaptionServer, ws: ServerConnection, route: Route) -> None:
    query = route.query or {}
    assert ws.request is not None
    if not server.token_ok(bearer_token(ws.request.headers, query), server.config.token):
        await _close_draining(
            server, ws, CloseCode.UNAUTHORIZED,
            "missing or wrong token: send 'Authorization: Bearer <token>' or ?token=<token>",
        )
        return
    try:
        name = check_stream_name(route.stream)
    except ProtocolError as e:
        await _close_draining(server, ws, CloseCode.BAD_REQUEST, str(e))
        return
    existing = server.producing.get(name)
    if existing is not None and existing.live:
        await _close_draining(server, ws, CloseCode.STREAM_BUSY, f"stream {name!r} already has an encoder; pick another name")
        return
    if server.pipeline_factory is None:
        await _close_draining(server, ws, CloseCode.INTERNAL_ERROR, "this server runs no pipeline; ingest is disabled")
        return
    # A factory other than the live pipeline's (tests) decodes one at a time.
    slots = getattr(server.pipeline_factory, "decode_slots", 1)
    if (full := refusal(server.producing.values(), server.config.admission, slots)) is not None:
        await _send_quietly(ws, dumps(error_message("at_capacity", full)))
        await _close_draining(server, ws, CloseCode.TRY_AGAIN_LATER, full)
        return
    try:
        start = await _receive_start(server, ws)
    except ProtocolError as e:
        server.metrics.protocol_errors.labels("ingest").inc()
        await _send_quietly(ws, dumps(error_message("bad_start", str(e))))
        await _close_draining(server, ws, CloseCode.BAD_REQUEST, str(e))
        return
    except ConnectionClosed:
        return
    if server.producing.get(name) is not None and server.producing[name].live:  # raced with another encoder
        await _close_draining(server, ws, CloseCode.STREAM_BUSY, f"stream {name!r} already has an encoder; pick another name")
        return
    try:
        await server.claim_stream(name)  # on a bus: the broadcast's lease, whichever worker had it
    except StreamBusy as e:
        await _close_draining(server, ws, CloseCode.STREAM_BUSY, f"{e}; pick another name, or retry if it died")
        return
    except LivetransError as e:
        await _send_quietly(ws, dumps(error_message("bus_unavailable", str(e))))
        await _close_draining(server, ws, CloseCode.TRY_AGAIN_LATER, str(e))
        return
    decoder = PcmDecoder(start.sample_rate, start.channels, start.sample_format)
    chunks: asyncio.Queue[AudioChunk | None] = asyncio.Queue(maxsize=AUDIO_QUEUE_CHUNKS)

    async def audio() -> AsyncIterator[AudioChunk]:
        while (chunk := await chunks.get()) is not None:
            yield chunk
    try:
        task = server.start_stream(name, audio(), source_lang=start.language, targets=start.targets,
                                   pts_offset=start.start_pts)
    except LivetransError as e:  # e.g. a language pair the translation model cannot do
        await server.drop_claim(name)
        await _send_quietly(ws, dumps(error_message("bad_start", str(e))))
        await _close_draining(server, ws, CloseCode.BAD_REQUEST, str(e))
        return

    await server.session_written(name)  # scaled out: viewers and control calls find it live
    await _send_quietly(ws, dumps({"type": "started", "stream": name, "seq_base": server.producing[name].last_seq}))
    bad_pcm: str | None = None
    try:
        bad_pcm = await _pump_audio(server, ws, start, decoder, chunks, task, name)
    finally:
        for chunk in decoder.flush():
            await _feed(chunks, chunk, task)
        await _feed(chunks, None, task)
    try:
        last_seq = await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.cancelled():
            raise  # this handler itself is being cancelled
        await _close_draining(server, ws, CloseCode.GOING_AWAY, "server shutting down: reconnect later")
        return
    except Exception as e:  # the pipeline's failure is logged by run_stream
        await _send_quietly(ws, dumps(error_message("pipeline_failed", f"the pipeline stopped: {e}")))
        await _close_draining(server, ws, CloseCode.INTERNAL_ERROR, "pipeline failed; see the server log")
        return
    if bad_pcm is not None:
        await _close_draining(server, ws, CloseCode.BAD_REQUEST, bad_pcm)
        return
    await _send_quietly(ws, dumps({"type": "end", "stream": name, "last_seq": last_seq, "reason": "input ended"}))
    await _close_draining(server, ws, CloseCode.NORMAL, "stream ended")


async def _receive_start(server: CaptionServer, ws: ServerConnection) -> IngestStart:
    try:
        message = await asyncio.wait_for(ws.recv(), server.config.start_timeout)
    except TimeoutError as e:
        raise ProtocolError(f"no start message within {server.config.start_timeout:g} s") from e
    if isinstance(message, bytes):
        raise ProtocolError("audio before the start message: send {\"type\":\"start\",...} first")
    data = parse_json_message(message)
    if data["type"] != "start":
        raise ProtocolError(f"expected a start message first, got {data['type']!r}")
    start = parse_ingest_start(data)
    if start.targets is not None:
        unserved = [t for t in start.targets if t not in server.config.targets]
        if unserved:
            served = ", ".join(server.config.targets) or "no languages"
            raise ProtocolError(
                f"start: this server does not translate to {', '.join(unserved)}; it serves {served} "
                "(restart it with --to to add more)"
            )
    return start


async def _pump_audio(
    server: CaptionServer,
    ws: ServerConnection,
    start: IngestStart,
    decoder: PcmDecoder,
    chunks: asyncio.Queue[AudioChunk | None],
    task: asyncio.Task[int],
    name: str = "",
) -> str | None:
    """Read the encoder until ``end`` or disconnect; returns a fatal PCM problem, if any."""
    received = 0  # bytes of PCM so far, to find sample boundaries for the sanity check
    try:
        async for message in ws:
            if task.done():
                return None  # the pipeline stopped; the caller reports why
            if isinstance(message, bytes):
                problem = pcm_problem(start, message, received)
                received += len(message)
                if problem is not None:
                    server.metrics.protocol_errors.labels("ingest").inc()
                    await _send_quietly(ws, dumps(error_message("bad_audio", problem)))
                    return problem
                try:
                    chunks_ready = decoder.push(message)
                except InputError as e:
                    return str(e)
                for chunk in chunks_ready:
                    if not await _feed(chunks, chunk, task):
                        return None  # the pipeline stopped; the caller reports why
                continue
            try:
                data = parse_json_message(message)
                if data["type"] == "end":
                    return None
                if data["type"] == "start":
                    raise ProtocolError("already started: send audio, then {\"type\":\"end\"}")
                if data["type"] == "vocabulary":
                    await _replace_vocabulary(server, ws, name, data)
                    continue
                raise ProtocolError(
                    f"unknown message type {data['type']!r}: ingest takes start, binary audio, vocabulary, end"
                )
            except ProtocolError as e:
                server.metrics.protocol_errors.labels("ingest").inc()
                await _send_quietly(ws, dumps(error_message("bad_message", str(e))))
    except ConnectionClosed:
        logger.info("encoder disconnected without an end message; ending the stream")
    except LivetransError as e:
        return str(e)
    return None


async def _replace_vocabulary(server: CaptionServer, ws: ServerConnection, name: str, data: dict[str, Any]) -> None:
    """A new vocabulary for this stream from its next utterance on (ProtocolError if bad)."""
    try:
        terms = await server.update_vocabulary(name, data)
    except (LookupError, LivetransError) as e:
        if isinstance(e, ProtocolError):
            raise
        raise ProtocolError(f"vocabulary: {e}") from e
    await _send_quietly(ws, dumps({"type": "vocabulary", "stream": name, "terms": terms}))


async def _feed(chunks: asyncio.Queue[AudioChunk | None], chunk: AudioChunk | None, task: asyncio.Task[int]) -> bool:
    """Queue a chunk for the pipeline, unless the pipeline ended (then the queue may never drain)."""
    if task.done():
        return False
    put = asyncio.ensure_future(chunks.put(chunk))
    await asyncio.wait([put, task], return_when=asyncio.FIRST_COMPLETED)
    if not put.done():
        put.cancel()
        return False
    return True


async def _close_draining(server: CaptionServer, ws: ServerConnection, code: CloseCode, reason: str) -> None:
    """Close, reading (and dropping) whatever audio is still in flight meanwhile: the
    client's close frame waits behind it, and unread it would stall the close."""

    async def discard() -> None:
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass

    drain = asyncio.create_task(discard())
    try:
        if code == CloseCode.NORMAL:
            await ws.close(code, reason)
        else:
            await server.reject(ws, code, reason)
    finally:
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)


async def _send_quietly(ws: ServerConnection, text: str) -> None:
    try:
        await ws.send(text)
    except ConnectionClosed:
        pass
