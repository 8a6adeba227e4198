"""The caption server shell: websockets' asyncio server wired to the hub.

``CaptionServer`` owns the streams (``hub.StreamState``), their journals and the
metrics; ``viewers.serve_viewer`` and ``ingest.serve_ingest`` handle one
connection each; ``routes.http_response`` answers the plain HTTP routes from
websockets' ``process_request`` hook. Start one with ``async with``::

    async with CaptionServer(ServerConfig(port=0), pipeline_factory=factory) as server:
        await server.run_stream("main", audio_chunks)
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import Counter as CountMap
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from ..types import AudioChunk, CaptionEvent, ErrorEvent, Event
from . import ingest, live_vocabulary, routes, viewers
from .bus import RedisBus
from .config import LISTEN_BACKLOG, ROLES, PipelineFactory, PipelineRunner, Role, ServerConfig
from .control import ControlListener
from .edge import EdgeMirrors
from .hls import HlsService
from .hub import Durable, StreamState, ViewerIds
from .journal import StreamJournal, journal_path, known_streams, log_sync_failure, sync_journals
from .metrics import ServerMetrics
from .protocol import MAX_INGEST_MESSAGE_BYTES, CloseCode, close_reason, parse_route
from .sessions import run_session
from .worker_link import WorkerLink

logger = logging.getLogger(__name__)

# Importable from here, where the server is: its options and the pipeline it runs.
__all__ = [
    "ROLES",
    "CaptionServer",
    "PipelineFactory",
    "PipelineRunner",
    "Role",
    "ServerConfig",
]


class CaptionServer:
    def __init__(self, config: ServerConfig, pipeline_factory: PipelineFactory | None = None) -> None:
        self.config = config
        self.pipeline_factory = pipeline_factory
        # What viewers see: local streams, or an edge's mirrors of bus streams.
        self.streams: dict[str, StreamState] = {}
        # The streams this process runs pipelines for (the same objects without a bus).
        self.producing: dict[str, StreamState] = {}
        self.pipelines: dict[str, PipelineRunner] = {}  # the running pipeline of each producing stream
        self.journals: dict[str, StreamJournal] = {}
        self.viewer_ids = ViewerIds()
        self.connections_by_address: CountMap[str] = CountMap()
        self.bus: RedisBus | None = None
        self.edge: EdgeMirrors | None = None
        self.control: ControlListener | None = None
        self.metrics = ServerMetrics(self)
        if config.bus_url is not None:
            self.bus = RedisBus(
                config.bus_url, self.metrics, lease_seconds=config.lease_seconds,
                retention_events=config.bus_retention_events, retention_seconds=config.bus_retention_seconds,
                buffer_events=config.bus_buffer_events,
            )
            if config.serves_viewers:
                self.edge = EdgeMirrors(self.bus, self)
        self.hls = HlsService(config.hls, config.viewer_token)
        self.started_at = time.time()
        self._server: Server | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._stream_tasks: set[asyncio.Task[int]] = set()
        self.viewer_tasks: set[asyncio.Task[object]] = set()
        if config.journal_dir is not None and self.bus is None:
            for name in known_streams(config.journal_dir):
                self._load_stream(name)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self.bus is not None:
            await self.bus.connect()  # an unreachable Redis is an error at start
            if self.edge is not None:
                self.edge.start()
            if self.config.serves_ingest:
                self.bus.follow_control(self._on_control)
        if self.config.control_port is not None:
            self.control = ControlListener(self)
            await self.control.start(self.config.host, self.config.control_port)
        self._server = await serve(
            self._handler,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            max_size=MAX_INGEST_MESSAGE_BYTES,
            compression=None,  # per-viewer deflate would cost CPU per viewer per event
            ping_interval=self.config.ping_interval,
            backlog=LISTEN_BACKLOG,
        )
        if self.config.journal_dir is not None:
            self._sync_task = asyncio.create_task(
                sync_journals(self.journals, self.config.fsync_interval), name="journal-fsync"
            )
        logger.info("caption server listening on %s", self.base_url)

    async def stop(self) -> None:
        for task in list(self._stream_tasks):
            task.cancel()
        if self._stream_tasks:
            await asyncio.gather(*self._stream_tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()  # viewers get 1001: reconnect later with since=
            await self._server.wait_closed()
            self._server = None
        if self.control is not None:
            await self.control.stop()
            self.control = None
        if self.edge is not None:
            await self.edge.stop()
        if self.bus is not None:
            await self.bus.close()
        if self._sync_task is not None:
            self._sync_task.cancel()
            await asyncio.gather(self._sync_task, return_exceptions=True)
        for journal in self.journals.values():
            await asyncio.to_thread(journal.close)
        self.journals.clear()

    async def drain(self, grace: float = 5.0) -> None:
        """Give viewers of ended streams up to ``grace`` seconds to receive their ``end``."""
        tasks = [t for t in self.viewer_tasks if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)

    async def __aenter__(self) -> CaptionServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        host = self.config.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return "ws" + self.base_url[4:]

    # ------------------------------------------------------------------ streams

    def _load_stream(self, name: str) -> StreamState:
        stream = StreamState(name, memory_events=self.config.memory_events)
        if self.config.journal_dir is not None:
            journal = StreamJournal(journal_path(self.config.journal_dir, name), self.config.fsync_interval)
            state = journal.read_state()
            stream.last_seq = state.last_seq
            stream.source_lang = state.source_lang
            stream.languages = state.languages
            stream.sessions = state.sessions
            stream.journal = journal
            self.journals[name] = journal
            if state.last_seq:
                logger.info("stream %s: journal continues after seq %d", name, state.last_seq)
        stream.on_latency = self.observe_latency
        self.hls.attach(stream)
        self.streams[name] = stream
        self.producing[name] = stream
        return stream

    def all_streams(self) -> dict[str, StreamState]:
        """Every stream this process knows: the viewed ones (an edge's mirrors) and the
        produced ones, a produced stream's own state where it is both."""
        return self.streams | self.producing

    def observe_latency(self, kind: str, seconds: float) -> None:
        self.metrics.caption_latency.labels(kind).observe(seconds)

    def stream(self, name: str) -> StreamState:
        """The stream this process produces called ``name``, created (and its journal
        opened) if new."""
        return self.producing.get(name) or self._load_stream(name)

    async def claim_stream(self, name: str) -> None:
        """On a bus, take the broadcast's lease before making it live here (raises
        ``bus.StreamBusy`` while another worker has it); without a bus, nothing to do."""
        if self.bus is None:
            return
        link = await self.bus.claim(name)
        stream = StreamState(name, memory_events=self.config.memory_events, outlet=link)
        stream.last_seq = link.last_seq
        stream.sessions = link.sessions
        stream.on_latency = self.observe_latency
        self.producing[name] = stream

    async def session_written(self, name: str, timeout: float = 2.0) -> None:
        """On a bus, wait (bounded) until the stream's session marker is in Redis, so that
        edges see it live; Redis away does not hold the encoder up longer than ``timeout``."""
        stream = self.producing.get(name)
        if stream is not None and isinstance(stream.outlet, WorkerLink):
            await stream.outlet.written(timeout)

    async def drop_claim(self, name: str) -> None:
        """Give back a lease taken by ``claim_stream`` for a session that never started."""
        stream = self.producing.get(name)
        if stream is not None and not stream.live and isinstance(stream.outlet, WorkerLink):
            del self.producing[name]
            await stream.outlet.close()

    async def read_history(self, name: str, since: int, upto: int) -> list[Durable] | None:
        """Durable events since < seq <= upto from the durable store (the bus or the
        journal), oldest first; None when there is none (memory only)."""
        if self.edge is not None:
            return await self.edge.history(name, since, upto)
        journal = self.journals.get(name)
        if journal is None:
            return None
        rows = await asyncio.to_thread(journal.read_since, since, upto)
        return [Durable(seq, str(rec.get("type")), str(rec.get("lang", "")), line) for seq, rec, line in rows]

    def open_session(
        self, name: str, source_lang: str | None, targets: tuple[str, ...], pts_offset: float | None = None
    ) -> StreamState:
        """Mark a stream live; publish its events with ``stream.publish``, end with ``end_session``."""
        stream = self.stream(name)
        languages = ([source_lang] if source_lang else []) + [t for t in targets if t != source_lang]
        stream.begin(source_lang, languages, pts_offset)
        return stream

    def hls_listing(self, name: str) -> dict[str, Any] | None:
        """Where a stream's HLS subtitles are, and the lines a packager adds (/v1/streams)."""
        media = self.hls.media_lines(name, self.base_url)
        if not media:
            return None
        return {"playlists": {m.language or "source": m.uri for m in media},
                "master_lines": [m.line() for m in media]}

    def request_base_url(self, request: Request) -> str:
        """This server's URL as the client reached it (its Host header)."""
        host = request.headers.get("Host")
        return f"http://{host}" if host else self.base_url

    def end_session(self, name: str, reason: str) -> None:
        stream = self.producing[name]
        stream.end(reason)
        journal = self.journals.get(name)
        if journal is not None:
            future = asyncio.get_running_loop().run_in_executor(None, journal.sync)
            future.add_done_callback(log_sync_failure)

    def publish(self, stream: StreamState, event: Event) -> None:
        if isinstance(event, CaptionEvent) and event.kind == "final" and stream.source_lang is None:
            stream.source_lang = event.lang or None  # detected: tell later viewers in hello
        stream.publish(event)
        kind = event.type if not isinstance(event, CaptionEvent) else f"caption_{event.kind}"
        self.metrics.events.labels(stream.name, kind).inc()
        if isinstance(event, ErrorEvent):
            self.metrics.pipeline_errors.labels(stream.name, event.stage).inc()

    def count_event(self, stream: str, data: dict[str, Any]) -> None:
        """Count an event an edge read from the bus."""
        kind = str(data["type"])
        if kind in ("caption", "translation"):
            kind = f"{kind}_{data.get('kind', 'final')}"
        self.metrics.events.labels(stream, kind).inc()

    async def run_stream(
        self,
        name: str,
        audio: AsyncIterator[AudioChunk],
        *,
        source_lang: str | None = None,
        targets: tuple[str, ...] | None = None,
        on_event: Callable[[Event], None] | None = None,
        pts_offset: float | None = None,
    ) -> int:
        """Run one live session of ``name`` from ``audio`` to its end; returns the last seq."""
        return await self.start_stream(name, audio, source_lang=source_lang, targets=targets, on_event=on_event,
                                       pts_offset=pts_offset)

    def start_stream(
        self,
        name: str,
        audio: AsyncIterator[AudioChunk],
        *,
        source_lang: str | None = None,
        targets: tuple[str, ...] | None = None,
        on_event: Callable[[Event], None] | None = None,
        pts_offset: float | None = None,
    ) -> asyncio.Task[int]:
        """Make ``name`` live now and run its pipeline as a task (cancelled on stop).

        ``pts_offset``: presentation time (s) of the audio's first sample, for HLS."""
        if self.pipeline_factory is None:
            raise RuntimeError("this server has no pipeline factory: it cannot run streams from audio")
        targets = self.config.targets if targets is None else targets
        source_lang = source_lang or self.config.source_lang
        pipeline = self.pipeline_factory(source_lang, targets)
        stream = self.open_session(name, source_lang, targets, pts_offset)
        self.pipelines[name] = pipeline
        if isinstance(stream.outlet, WorkerLink) and stream.outlet.vocabulary is not None:
            self._on_control(name, stream.outlet.vocabulary)  # updated live before a failover
        task = asyncio.create_task(run_session(self, stream, pipeline, audio, on_event), name=f"stream-{name}")
        if isinstance(stream.outlet, WorkerLink):

            def stop() -> None:  # another worker took the broadcast over
                task.cancel()

            stream.outlet.on_lost = stop
        self._stream_tasks.add(task)
        task.add_done_callback(self._stream_tasks.discard)
        return task

    async def update_vocabulary(self, name: str, data: dict[str, Any]) -> int:
        """Replace a live stream's vocabulary (``live_vocabulary.update_vocabulary``)."""
        return await live_vocabulary.update_vocabulary(self, name, data)

    def _on_control(self, name: str, data: dict[str, Any]) -> None:
        live_vocabulary.apply_control(self, name, data)

    # ------------------------------------------------------------------ connections

    def token_ok(self, given: str | None, expected: str | None) -> bool:
        if expected is None:
            return True
        return given is not None and hmac.compare_digest(given.encode(), expected.encode())

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        return await routes.http_response(self, connection, request)

    @staticmethod
    def address_of(connection: ServerConnection) -> str:
        peer = connection.remote_address
        return str(peer[0]) if peer else "?"

    async def _handler(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        route = parse_route(connection.request.path)
        address = self.address_of(connection)
        limit = self.config.max_connections_per_address
        if limit and self.connections_by_address[address] >= limit:
            self.metrics.rejections.labels(str(int(CloseCode.TOO_MANY_CONNECTIONS))).inc()
            await connection.close(
                CloseCode.TOO_MANY_CONNECTIONS,
                close_reason(f"too many connections from {address} (limit {limit}): close some first"),
            )
            return
        self.connections_by_address[address] += 1
        try:
            self.metrics.connections.labels(route.kind).inc()
            if route.kind == "captions" and self.config.serves_viewers:
                await viewers.serve_viewer(self, connection, route)
            elif route.kind == "ingest" and self.config.serves_ingest:
                await ingest.serve_ingest(self, connection, route)
            elif route.kind in ("captions", "ingest"):
                wanted = "an edge" if route.kind == "captions" else "a worker"
                await self.reject(connection, CloseCode.WRONG_ROLE,
                                  f"this server is a {self.config.role}: connect {route.kind} to {wanted}")
            else:
                await connection.close(CloseCode.BAD_REQUEST, close_reason(f"no WebSocket endpoint at {route.path}"))
        finally:
            self.connections_by_address[address] -= 1
            if self.connections_by_address[address] <= 0:
                del self.connections_by_address[address]

    async def reject(self, connection: ServerConnection, code: CloseCode, message: str) -> None:
        """Close a connection by policy, telling the client why."""
        self.metrics.rejections.labels(str(int(code))).inc()
        logger.info("closing %s with %d: %s", self.address_of(connection), code, message)
        await connection.close(code, close_reason(message))
