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
import secrets
import time
from collections import Counter as CountMap
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from ..types import AudioChunk, CaptionEvent, Event
from . import ingest, routes, viewers
from .hls import HlsConfig, HlsService
from .hub import DEFAULT_MAX_DURABLE_QUEUE, DEFAULT_MEMORY_EVENTS, StreamState, ViewerIds
from .journal import StreamJournal, journal_path, known_streams
from .metrics import Registry
from .protocol import MAX_INGEST_MESSAGE_BYTES, CloseCode, close_reason, parse_route

logger = logging.getLogger(__name__)


class PipelineRunner(Protocol):
    def run(self, audio: AsyncIterator[AudioChunk], *, seq_base: int = 0) -> AsyncIterator[Event]: ...


# (source language or None for auto, target languages) -> a pipeline for one session
PipelineFactory = Callable[[str | None, tuple[str, ...]], PipelineRunner]


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8765  # 0: any free port (tests)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))  # ingest
    viewer_token: str | None = None  # None: captions, /v1/streams and the overlay are public
    journal_dir: Path | None = None  # None: memory only, no resume across restarts
    fsync_interval: float = 1.0  # seconds between journal fsyncs (0: every event)
    memory_events: int = DEFAULT_MEMORY_EVENTS
    max_durable_queue: int = DEFAULT_MAX_DURABLE_QUEUE
    max_connections_per_address: int = 32  # 0: no limit
    source_lang: str | None = None  # default for ingest streams that say "auto"
    targets: tuple[str, ...] = ()  # translation targets this server can serve
    ping_interval: float | None = 20.0
    start_timeout: float = 10.0  # seconds an encoder has to send its start message
    hls: HlsConfig = HlsConfig()  # HLS WebVTT subtitle renditions (docs/hls.md)


def _log_sync_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("journal fsync failed: %s", future.exception())


class ServerMetrics:
    def __init__(self, server: CaptionServer) -> None:
        r = self.registry = Registry()
        self.connections = r.counter(
            "livetrans_connections_total", "WebSocket connections accepted", ("endpoint",)
        )
        self.rejections = r.counter(
            "livetrans_rejected_connections_total", "Connections closed by policy", ("code",)
        )
        self.events = r.counter("livetrans_events_total", "Events published", ("stream", "type"))
        self.dropped_partials = r.counter(
            "livetrans_dropped_partials_total", "Partials replaced in slow viewers' queues", ("stream",)
        )
        self.slow_viewers = r.counter(
            "livetrans_slow_viewer_closes_total", "Viewers closed for falling behind", ("stream",)
        )
        self.protocol_errors = r.counter(
            "livetrans_protocol_errors_total", "Bad client messages", ("endpoint",)
        )
        self.caption_latency = r.histogram(
            "livetrans_caption_latency_seconds",
            "emitted_at minus the audio end time, per durable event kind",
            ("kind",),
        )
        self.fanout_delay = r.histogram(
            "livetrans_fanout_delay_seconds",
            "Time from publish to handing the message to a viewer's socket",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
        )
        streams = server.streams
        r.gauge("livetrans_streams", "Streams by state", ("state",), collect=lambda: [
            (("live",), sum(s.live for s in streams.values())),
            (("idle",), sum(not s.live for s in streams.values())),
        ])
        r.gauge("livetrans_viewers", "Connected viewers", ("stream",), collect=lambda: [
            ((s.name,), len(s.viewers)) for s in streams.values()
        ])
        r.gauge("livetrans_queue_depth_max", "Deepest viewer queue (messages)", ("stream",), collect=lambda: [
            ((s.name,), max((len(v.queue) for v in s.viewers.values()), default=0)) for s in streams.values()
        ])
        r.gauge("livetrans_queue_depth_total", "Messages waiting in all viewer queues", ("stream",), collect=lambda: [
            ((s.name,), sum(len(v.queue) for v in s.viewers.values())) for s in streams.values()
        ])
        r.gauge("livetrans_last_seq", "Last durable seq", ("stream",), collect=lambda: [
            ((s.name,), s.last_seq) for s in streams.values()
        ])
        r.gauge("livetrans_audio_seconds", "Audio seconds fed to the live session's pipeline", ("stream",),
                collect=lambda: [((s.name,), s.audio_seconds) for s in streams.values() if s.live])
        r.gauge(
            "livetrans_realtime_factor",
            "Recognition compute seconds per audio second (>1: cannot keep up with real time)",
            ("stream",),
            collect=lambda: [
                ((s.name,), rtf) for s in streams.values() if (rtf := s.realtime_factor) is not None
            ],
        )


class CaptionServer:
    def __init__(self, config: ServerConfig, pipeline_factory: PipelineFactory | None = None) -> None:
        self.config = config
        self.pipeline_factory = pipeline_factory
        self.streams: dict[str, StreamState] = {}
        self.journals: dict[str, StreamJournal] = {}
        self.viewer_ids = ViewerIds()
        self.connections_by_address: CountMap[str] = CountMap()
        self.metrics = ServerMetrics(self)
        self.hls = HlsService(config.hls, config.viewer_token)
        self.started_at = time.time()
        self._server: Server | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._stream_tasks: set[asyncio.Task[int]] = set()
        self.viewer_tasks: set[asyncio.Task[object]] = set()
        if config.journal_dir is not None:
            for name in known_streams(config.journal_dir):
                self._load_stream(name)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._server = await serve(
            self._handler,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            max_size=MAX_INGEST_MESSAGE_BYTES,
            compression=None,  # per-viewer deflate would cost CPU per viewer per event
            ping_interval=self.config.ping_interval,
        )
        if self.config.journal_dir is not None:
            self._sync_task = asyncio.create_task(self._sync_journals(), name="journal-fsync")
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
        stream.on_latency = lambda kind, seconds: self.metrics.caption_latency.observe(seconds, (kind,))
        self.hls.attach(stream)
        self.streams[name] = stream
        return stream

    def stream(self, name: str) -> StreamState:
        """The stream called ``name``, created (and its journal opened) if new."""
        return self.streams.get(name) or self._load_stream(name)

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
        stream = self.streams[name]
        stream.end(reason)
        journal = self.journals.get(name)
        if journal is not None:
            future = asyncio.get_running_loop().run_in_executor(None, journal.sync)
            future.add_done_callback(_log_sync_failure)

    def publish(self, stream: StreamState, event: Event) -> None:
        if isinstance(event, CaptionEvent) and event.kind == "final" and stream.source_lang is None:
            stream.source_lang = event.lang or None  # detected: tell later viewers in hello
        stream.publish(event)
        kind = event.type if not isinstance(event, CaptionEvent) else f"caption_{event.kind}"
        self.metrics.events.inc(1, (stream.name, kind))

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
        task = asyncio.create_task(self._run_session(stream, pipeline, audio, on_event), name=f"stream-{name}")
        self._stream_tasks.add(task)
        task.add_done_callback(self._stream_tasks.discard)
        return task

    async def _run_session(
        self,
        stream: StreamState,
        pipeline: PipelineRunner,
        audio: AsyncIterator[AudioChunk],
        on_event: Callable[[Event], None] | None,
    ) -> int:
        reason = "input ended"
        if isinstance(getattr(pipeline, "real_time_factor", None), float):
            stream.compute_rtf = lambda: float(pipeline.real_time_factor)  # type: ignore[attr-defined]

        async def counted() -> AsyncIterator[AudioChunk]:
            async for chunk in audio:
                stream.audio_seconds += chunk.duration
                yield chunk

        try:
            async for event in pipeline.run(counted(), seq_base=stream.last_seq):
                self.publish(stream, event)
                if on_event is not None:
                    on_event(event)
        except asyncio.CancelledError:
            reason = "server shutting down"
            raise
        except Exception:
            reason = "pipeline error (see the server log)"
            logger.exception("stream %s: pipeline failed", stream.name)
            raise
        finally:
            self.end_session(stream.name, reason)
        return stream.last_seq

    async def _sync_journals(self) -> None:
        interval = max(self.config.fsync_interval, 0.05)
        while True:
            await asyncio.sleep(interval)  # a periodic timer, not synchronisation
            for journal in list(self.journals.values()):
                if journal.sync_due():
                    await asyncio.to_thread(journal.sync)

    # ------------------------------------------------------------------ connections

    def token_ok(self, given: str | None, expected: str | None) -> bool:
        if expected is None:
            return True
        return given is not None and hmac.compare_digest(given.encode(), expected.encode())

    def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | Awaitable[Response] | None:
        return routes.http_response(self, connection, request)

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
            self.metrics.rejections.inc(1, (str(int(CloseCode.TOO_MANY_CONNECTIONS)),))
            await connection.close(
                CloseCode.TOO_MANY_CONNECTIONS,
                close_reason(f"too many connections from {address} (limit {limit}): close some first"),
            )
            return
        self.connections_by_address[address] += 1
        try:
            self.metrics.connections.inc(1, (route.kind,))
            if route.kind == "captions":
                await viewers.serve_viewer(self, connection, route)
            elif route.kind == "ingest":
                await ingest.serve_ingest(self, connection, route)
            else:
                await connection.close(CloseCode.BAD_REQUEST, close_reason(f"no WebSocket endpoint at {route.path}"))
        finally:
            self.connections_by_address[address] -= 1
            if self.connections_by_address[address] <= 0:
                del self.connections_by_address[address]

    async def reject(self, connection: ServerConnection, code: CloseCode, message: str) -> None:
        """Close a connection by policy, telling the client why."""
        self.metrics.rejections.inc(1, (str(int(code)),))
        logger.info("closing %s with %d: %s", self.address_of(connection), code, message)
        await connection.close(code, close_reason(message))
