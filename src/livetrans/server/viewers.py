"""One captions viewer connection: hello, replay, live events, end (socket shell)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ..errors import ProtocolError
from .hub import Durable, StreamState, Viewer
from .protocol import (
    MAX_VIEWER_MESSAGE_BYTES,
    CloseCode,
    Route,
    bearer_token,
    check_stream_name,
    dumps,
    error_message,
    gap_message,
    hello_message,
    parse_json_message,
    parse_viewer_query,
    viewer_wants,
)
from .viewer_queue import ViewerQueue

if TYPE_CHECKING:
    from .app import CaptionServer

logger = logging.getLogger(__name__)

REPLAY_BATCH = 256  # durable events per await during a replay


async def serve_viewer(server: CaptionServer, ws: ServerConnection, route: Route) -> None:
    query = route.query or {}
    assert ws.request is not None
    if not server.token_ok(bearer_token(ws.request.headers, query), server.config.viewer_token):
        await server.reject(ws, CloseCode.UNAUTHORIZED, "missing or wrong token: add ?token=<viewer token>")
        return
    try:
        name = check_stream_name(route.stream)
        request = parse_viewer_query(query)
    except ProtocolError as e:
        await server.reject(ws, CloseCode.BAD_REQUEST, str(e))
        return
    stream = server.streams.get(name)
    if stream is None:
        known = ", ".join(sorted(server.streams)) or "none yet"
        await server.reject(ws, CloseCode.UNKNOWN_STREAM, f"unknown stream {name!r} (known: {known}); retry later")
        return
    if (
        request.lang not in (None, "*")
        and stream.source_lang is not None
        and stream.languages
        and request.lang not in stream.languages
    ):
        await server.reject(
            ws, CloseCode.BAD_REQUEST,
            f"lang {request.lang!r} not on offer; use one of {', '.join(stream.languages)}",
        )
        return
    if ws.protocol.max_message_size is not None:
        ws.protocol.max_message_size = MAX_VIEWER_MESSAGE_BYTES
    wake = asyncio.Event()
    closing: list[asyncio.Task[None]] = []

    def on_publish() -> None:
        wake.set()
        # The sender may be stuck in send() on a stalled socket, so the close starts here.
        if viewer.queue.overflowed and not closing:
            closing.append(asyncio.create_task(_close_slow(server, ws, stream, viewer)))

    viewer = Viewer(
        id=server.viewer_ids.new(),
        stream=name,
        request=request,
        queue=ViewerQueue(server.config.max_durable_queue),
        wake=on_publish,
        address=server.address_of(ws),
    )
    stream.add_viewer(viewer)
    this_task = asyncio.current_task()
    if this_task is not None:
        server.viewer_tasks.add(this_task)
        this_task.add_done_callback(server.viewer_tasks.discard)
    sender = asyncio.create_task(_send_loop(server, ws, stream, viewer, wake), name=f"viewer-{viewer.id}")
    try:
        await _read_loop(server, ws, sender)
    finally:
        stream.remove_viewer(viewer)
        server.metrics.dropped_partials.inc(viewer.queue.dropped_partials, (name,))
        if not sender.done():
            sender.cancel()
        await asyncio.gather(sender, *closing, return_exceptions=True)


async def _close_slow(server: CaptionServer, ws: ServerConnection, stream: StreamState, viewer: Viewer) -> None:
    """Close a viewer whose queue overflowed; everything sent so far still arrives first."""
    stream.remove_viewer(viewer)  # stop queueing for it at once
    server.metrics.slow_viewers.inc(1, (stream.name,))
    await server.reject(ws, CloseCode.VIEWER_TOO_SLOW, f"too slow: reconnect with since={viewer.last_sent_seq}")


async def _read_loop(server: CaptionServer, ws: ServerConnection, sender: asyncio.Task[None]) -> None:
    """Viewers may send nothing we need; anything they do send is checked and answered."""
    reader = asyncio.ensure_future(_read_messages(server, ws))
    try:
        await asyncio.wait([reader, sender], return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not reader.done():
            reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        # Surface a sender bug in the log rather than losing it silently.
        if sender.done() and not sender.cancelled() and sender.exception() is not None:
            logger.error("viewer sender failed", exc_info=sender.exception())


async def _read_messages(server: CaptionServer, ws: ServerConnection) -> None:
    try:
        async for message in ws:
            if isinstance(message, bytes):
                problem = "viewers send no binary messages; send JSON text such as {\"type\":\"ping\"}"
            else:
                try:
                    data = parse_json_message(message)
                except ProtocolError as e:
                    problem = str(e)
                else:
                    if data["type"] == "ping":
                        await ws.send(dumps({"type": "pong"}))
                        continue
                    problem = f"unknown message type {data['type']!r}: viewers may send only \"ping\""
            server.metrics.protocol_errors.inc(1, ("captions",))
            await ws.send(dumps(error_message("bad_message", problem)))
    except ConnectionClosed:
        pass


async def _send_payload(server: CaptionServer, ws: ServerConnection, payload: bytes) -> None:
    await ws.send(payload, text=True)


async def _send_loop(
    server: CaptionServer, ws: ServerConnection, stream: StreamState, viewer: Viewer, wake: asyncio.Event
) -> None:
    request = viewer.request
    live_at_join = stream.live  # a live stream's end reaches the queue; an idle one's never will
    try:
        await ws.send(
            dumps(
                hello_message(
                    stream=stream.name,
                    live=live_at_join,
                    source_lang=stream.source_lang,
                    languages=stream.languages,
                    request=request,
                    last_seq=viewer.replay_upto,
                )
            )
        )
        await _replay(server, ws, stream, viewer)
        if not live_at_join:
            # Nothing more will come: an idle stream's viewer gets its replay and the end.
            await ws.send(dumps({"type": "end", "stream": stream.name, "last_seq": stream.last_seq,
                                 "reason": "stream not live"}))
            await ws.close(CloseCode.NORMAL, "stream not live")
            return
        while True:
            await wake.wait()
            wake.clear()
            if viewer.queue.overflowed:
                return  # _close_slow closes the connection
            while items := viewer.queue.take():
                now = time.monotonic()
                for item in items:
                    if item.control:
                        await _send_payload(server, ws, item.payload)
                        await ws.close(CloseCode.NORMAL, "stream ended")
                        return
                    if item.durable:
                        if item.seq <= viewer.last_sent_seq:
                            continue  # already sent by the replay: exactly once
                        viewer.last_sent_seq = item.seq
                    server.metrics.fanout_delay.observe(now - item.enqueued_at)
                    await _send_payload(server, ws, item.payload)
                    if viewer.queue.overflowed:
                        return
    except ConnectionClosed:
        return


async def _replay(server: CaptionServer, ws: ServerConnection, stream: StreamState, viewer: Viewer) -> None:
    since = viewer.request.since
    if since is None or since >= viewer.replay_upto:
        return
    events: list[Durable] | None = stream.replay_from_memory(viewer)
    if events is None:
        journal = server.journals.get(stream.name)
        if journal is None:
            first = stream.memory[0].seq if stream.memory else viewer.replay_upto + 1
            await ws.send(dumps(gap_message(since, first)))
            events = [d for d in stream.memory if d.seq <= viewer.replay_upto
                      and viewer_wants(viewer.request, d.type, d.lang)]
        else:
            rows = await asyncio.to_thread(journal.read_since, since, viewer.replay_upto)
            events = [
                Durable(seq, str(rec.get("type")), str(rec.get("lang", "")), line)
                for seq, rec, line in rows
                if viewer_wants(viewer.request, str(rec.get("type")), str(rec.get("lang", "")))
            ]
            if rows and rows[0][0] > since + 1:
                await ws.send(dumps(gap_message(since, rows[0][0])))
    for start in range(0, len(events), REPLAY_BATCH):
        for durable in events[start : start + REPLAY_BATCH]:
            if durable.seq <= viewer.last_sent_seq:
                continue
            viewer.last_sent_seq = durable.seq
            await _send_payload(server, ws, durable.payload)
    viewer.last_sent_seq = max(viewer.last_sent_seq, viewer.replay_upto)
