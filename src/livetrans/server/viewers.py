"""One captions viewer connection: hello, replay, live events, end (socket shell)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from ..errors import ProtocolError
from .hub import Durable, StreamState, Viewer
from .protocol import (
    MAX_VIEWER_MESSAGE_BYTES,
    CloseCode,
    Route,
    ViewerRequest,
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
from .viewer_queue import QueueItem, ViewerQueue

if TYPE_CHECKING:
    from .app import CaptionServer

logger = logging.getLogger(__name__)

REPLAY_BATCH = 256  # durable events per await during a replay
FAST_PATH_BUFFER_BYTES = 16 * 1024  # write straight to the socket only below this backlog


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
    if server.edge is None:
        await _serve_stream(server, ws, name, request, server.streams.get(name))
        return
    try:
        mirror = await server.edge.attach(name)
    except RedisError:
        await server.reject(ws, CloseCode.TRY_AGAIN_LATER, "Redis unreachable from this edge; reconnect shortly")
        return
    try:
        await _serve_stream(server, ws, name, request, mirror)
    finally:
        if mirror is not None:
            server.edge.release(name)


async def _serve_stream(
    server: CaptionServer, ws: ServerConnection, name: str, request: ViewerRequest, stream: StreamState | None
) -> None:
    if stream is None:
        known = ", ".join(sorted(server.streams)) or "none yet"
        if server.edge is not None:
            known = "see /v1/streams"
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
    session = ViewerSession(server, ws, stream, request)
    this_task = asyncio.current_task()
    if this_task is not None:
        server.viewer_tasks.add(this_task)
        this_task.add_done_callback(server.viewer_tasks.discard)
    sender = asyncio.create_task(session.send_loop(), name=f"viewer-{session.viewer.id}")
    try:
        await _read_loop(server, ws, sender)
    finally:
        stream.remove_viewer(session.viewer)
        server.metrics.dropped_partials.labels(name).inc(session.viewer.queue.dropped_partials)
        if not sender.done():
            sender.cancel()
        await asyncio.gather(sender, *session.closing, return_exceptions=True)


class ViewerSession:
    """The sending side of one viewer.

    Fast path: when the sender task is idle (replay done, nothing in flight) and
    the socket's write buffer is short, a publish writes the viewer's message
    straight into the socket, synchronously (websockets' ``broadcast`` for one
    connection); no task switch per viewer per event. Otherwise the sender task
    is woken and sends with back-pressure (``await ws.send``).
    """

    def __init__(self, server: CaptionServer, ws: ServerConnection, stream: StreamState,
                 request: ViewerRequest) -> None:
        self.server = server
        self.ws = ws
        self.stream = stream
        self.wake = asyncio.Event()
        self.idle = False  # the sender waits for a wake-up with nothing in flight
        self.closing: list[asyncio.Task[None]] = []
        self.viewer = Viewer(
            id=server.viewer_ids.new(),
            stream=stream.name,
            request=request,
            queue=ViewerQueue(server.config.max_durable_queue),
            wake=self.on_publish,
            address=server.address_of(ws),
        )
        stream.add_viewer(self.viewer)

    def on_publish(self) -> None:
        queue = self.viewer.queue
        if queue.overflowed:
            # The sender may be stuck in send() on a stalled socket, so the close starts here.
            if not self.closing:
                self.closing.append(asyncio.create_task(self.close_slow()))
            self.wake.set()
            return
        transport = self.ws.transport
        if (
            self.idle
            and transport is not None
            and transport.get_write_buffer_size() < FAST_PATH_BUFFER_BYTES
            and self.ws.protocol.state is State.OPEN
        ):
            for item in queue.take():
                if item.control:  # the end: the sender sends it and closes
                    queue.offer(item)
                    break
                if not self.accept(item):
                    continue
                broadcast([self.ws], item.payload, text=True)
            if not len(queue):
                return
        self.wake.set()

    def accept(self, item: QueueItem) -> bool:
        """Exactly once: skip durables the replay already sent; record what goes out."""
        if item.durable:
            if item.seq <= self.viewer.last_sent_seq:
                return False
            self.viewer.last_sent_seq = item.seq
        self.server.metrics.fanout_delay.observe(time.monotonic() - item.enqueued_at)
        return True

    async def close_slow(self) -> None:
        """Close a viewer whose queue overflowed; everything sent so far still arrives first."""
        self.stream.remove_viewer(self.viewer)  # stop queueing for it at once
        self.server.metrics.slow_viewers.labels(self.stream.name).inc()
        await self.server.reject(
            self.ws, CloseCode.VIEWER_TOO_SLOW, f"too slow: reconnect with since={self.viewer.last_sent_seq}"
        )

    async def send_loop(self) -> None:
        ws, stream, viewer = self.ws, self.stream, self.viewer
        live_at_join = stream.live  # a live stream's end reaches the queue; an idle one's never will
        try:
            await ws.send(
                dumps(
                    hello_message(
                        stream=stream.name,
                        live=live_at_join,
                        source_lang=stream.source_lang,
                        languages=stream.languages,
                        request=viewer.request,
                        last_seq=viewer.replay_upto,
                    )
                )
            )
            await _replay(self.server, ws, stream, viewer)
            if not live_at_join:
                # Nothing more will come: an idle stream's viewer gets its replay and the end.
                await ws.send(dumps({"type": "end", "stream": stream.name, "last_seq": stream.last_seq,
                                     "reason": "stream not live"}))
                await ws.close(CloseCode.NORMAL, "stream not live")
                return
            while True:
                while items := viewer.queue.take():
                    for item in items:
                        if item.control:
                            await ws.send(item.payload, text=True)
                            await ws.close(CloseCode.NORMAL, "stream ended")
                            return
                        if self.accept(item):
                            await ws.send(item.payload, text=True)
                        if viewer.queue.overflowed:
                            return  # close_slow closes the connection
                self.wake.clear()
                self.idle = True
                try:
                    await self.wake.wait()
                finally:
                    self.idle = False
                if viewer.queue.overflowed:
                    return
        except ConnectionClosed:
            return


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
            server.metrics.protocol_errors.labels("captions").inc()
            await ws.send(dumps(error_message("bad_message", problem)))
    except ConnectionClosed:
        pass


async def _replay(server: CaptionServer, ws: ServerConnection, stream: StreamState, viewer: Viewer) -> None:
    since = viewer.request.since
    if since is None or since >= viewer.replay_upto:
        return
    events: list[Durable] | None = stream.replay_from_memory(viewer)
    if events is None:
        try:
            rows = await server.read_history(stream.name, since, viewer.replay_upto)
        except RedisError:
            rows = None  # Redis went away: what memory has, after a gap
        if rows is None:
            first = stream.memory[0].seq if stream.memory else viewer.replay_upto + 1
            await ws.send(dumps(gap_message(since, first)))
            events = [d for d in stream.memory if d.seq <= viewer.replay_upto
                      and viewer_wants(viewer.request, d.type, d.lang)]
        else:
            first = rows[0].seq if rows else viewer.replay_upto + 1
            if first > since + 1:
                await ws.send(dumps(gap_message(since, first)))
            events = [d for d in rows if viewer_wants(viewer.request, d.type, d.lang)]
    for start in range(0, len(events), REPLAY_BATCH):
        for durable in events[start : start + REPLAY_BATCH]:
            if durable.seq <= viewer.last_sent_seq:
                continue
            viewer.last_sent_seq = durable.seq
            await ws.send(durable.payload, text=True)
    viewer.last_sent_seq = max(viewer.last_sent_seq, viewer.replay_upto)
