"""One live session of a stream: its pipeline's events published as they come.

The session ends the same way whatever stops it (the audio's end, a pipeline
failure, a shutdown or another worker taking the broadcast over): viewers get the
reason, and a worker's outlet reaches Redis before its lease goes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from ..types import AudioChunk, Event
from .config import PipelineRunner
from .hub import StreamState
from .worker_link import WorkerLink

if TYPE_CHECKING:
    from .app import CaptionServer

logger = logging.getLogger(__name__)


async def run_session(
    server: CaptionServer,
    stream: StreamState,
    pipeline: PipelineRunner,
    audio: AsyncIterator[AudioChunk],
    on_event: Callable[[Event], None] | None,
) -> int:
    """Run ``pipeline`` on ``audio`` and publish its events to ``stream`` until the audio
    ends, the pipeline fails or the task is cancelled; then end the session (and, on a
    worker, hand the last events to Redis and give up the lease). Returns the last seq."""
    reason = "input ended"
    if isinstance(getattr(pipeline, "real_time_factor", None), float):
        stream.compute_rtf = lambda: float(pipeline.real_time_factor)  # type: ignore[attr-defined]
    if isinstance(getattr(pipeline, "load_factor", None), float):
        stream.compute_load = lambda: float(pipeline.load_factor)  # type: ignore[attr-defined]
    if isinstance(getattr(pipeline, "audio_seconds", None), float):
        stream.recognised_seconds = lambda: float(pipeline.audio_seconds)  # type: ignore[attr-defined]

    counts_decodes = isinstance(getattr(pipeline, "decodes", None), int)
    counted_decodes = 0  # the pipeline's decodes already in /metrics

    def count_decodes() -> None:
        nonlocal counted_decodes
        if counts_decodes and (made := pipeline.decodes) > counted_decodes:  # type: ignore[attr-defined]
            server.metrics.decodes.inc(made - counted_decodes)
            counted_decodes = made

    async def counted() -> AsyncIterator[AudioChunk]:
        async for chunk in audio:
            stream.audio_seconds += chunk.duration
            yield chunk

    try:
        async for event in pipeline.run(counted(), seq_base=stream.last_seq):
            server.publish(stream, event)
            count_decodes()
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
        count_decodes()
        if server.pipelines.get(stream.name) is pipeline:
            del server.pipelines[stream.name]
        server.end_session(stream.name, reason)
        if isinstance(stream.outlet, WorkerLink):
            await stream.outlet.close()  # the last events reach Redis, then the lease goes
            if server.producing.get(stream.name) is stream:
                del server.producing[stream.name]
    return stream.last_seq
