"""The caption server's options, and the pipeline interface it runs streams with."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from ..types import AudioChunk, Event
from .admission import AdmissionRule
from .hls import HlsConfig
from .hub import DEFAULT_MAX_DURABLE_QUEUE, DEFAULT_MEMORY_EVENTS


class PipelineRunner(Protocol):
    def run(self, audio: AsyncIterator[AudioChunk], *, seq_base: int = 0) -> AsyncIterator[Event]: ...


# (source language or None for auto, target languages) -> a pipeline for one session
PipelineFactory = Callable[[str | None, tuple[str, ...]], PipelineRunner]

# Pending connections the kernel queues (capped by net.core.somaxconn): when an edge dies,
# its viewers all reconnect to the others at once, and a short queue turns the overflow into
# TCP retries of 1, 3, 7 s.
LISTEN_BACKLOG = 4096

Role = Literal["all", "worker", "edge"]
ROLES: tuple[Role, ...] = ("all", "worker", "edge")


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
    # The Redis bus (docs/scaling.md); None: one process, events in local journals.
    bus_url: str | None = None
    role: Role = "all"  # worker: ingest and pipelines; edge: viewers from the bus; all: both
    lease_seconds: float = 5.0  # a dead worker's broadcasts are taken over after this
    bus_retention_events: int = 100_000  # entries kept per broadcast (approximately; 0: no limit)
    bus_retention_seconds: float = 86_400.0  # entries older than this are trimmed (0: kept)
    bus_buffer_events: int = 100_000  # durable events a worker holds while Redis is away
    control_port: int | None = None  # the control API's HTTP port (0: any free one; None: off)
    admission: AdmissionRule = AdmissionRule()  # when a new stream is refused (server/admission.py)

    @property
    def serves_viewers(self) -> bool:
        return self.role in ("all", "edge")

    @property
    def serves_ingest(self) -> bool:
        return self.role in ("all", "worker")
