"""Streams, viewers and fan-out (pure, synchronous: no sockets, no asyncio).

One :class:`StreamState` per stream owns the seq counter, the in-memory tail of
durable events, the journal writer and the viewers. ``publish`` encodes an
event once, journals it if durable, and offers it to every viewer whose
language filter matches; it never blocks on a viewer. The socket shell wakes
each viewer's sender through the ``wake`` callback it registered.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..core.events import event_to_dict
from ..types import CaptionEvent, Event, TranslationEvent, WatermarkEvent, is_durable
from .protocol import ViewerRequest, dumps, end_message, viewer_wants
from .viewer_queue import QueueItem, ViewerQueue

logger = logging.getLogger(__name__)

DEFAULT_MEMORY_EVENTS = 10_000  # durable events kept in memory for fast resume
DEFAULT_MAX_DURABLE_QUEUE = 500  # durable events a viewer may fall behind before it is closed


class JournalWriter(Protocol):
    def append(self, line: bytes) -> None: ...
    def append_record(self, record: dict[str, Any]) -> None: ...


class Outlet(Protocol):
    """Where a worker's stream sends its events besides its own viewers: the bus."""

    def durable(self, seq: int, payload: bytes) -> None: ...
    def partial(self, payload: bytes, track: str) -> None: ...
    def marker(self, record: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Durable:
    """A durable event as kept in memory: enough to filter and resend it."""

    seq: int
    type: str
    lang: str
    payload: bytes


@dataclass(eq=False)
class Viewer:
    id: int
    stream: str
    request: ViewerRequest
    queue: ViewerQueue
    wake: Callable[[], None]
    address: str = ""
    replay_upto: int = 0  # durable seqs <= this come from replay, later ones from the queue
    last_sent_seq: int = 0  # the shell updates this as it sends durable events


def _track(data: dict[str, Any]) -> str:
    """What a newer event of the same kind replaces: the partial caption, one language's
    draft, the watermark."""
    kind = str(data.get("type", ""))
    return f"translation:{data.get('lang', '')}" if kind == "translation" else kind


def _durable_of(event: Event) -> bool:
    return is_durable(event)


# A consumer of a stream's events (the HLS packager): the event dict as viewers get
# it, and whether it is durable. Session markers come the same way (durable): the
# ``session`` record ``begin`` journals and the ``end`` message, exactly as journalled.
Listener = Callable[[dict[str, Any], bool], None]


@dataclass
class StreamState:
    name: str
    journal: JournalWriter | None = None
    outlet: Outlet | None = None  # the bus, on a worker
    memory_events: int = DEFAULT_MEMORY_EVENTS
    live: bool = False
    source_lang: str | None = None
    languages: list[str] = field(default_factory=list)
    last_seq: int = 0
    sessions: int = 0
    started_at: float | None = None  # unix seconds of the live session's start
    audio_seconds: float = 0.0  # audio fed to the pipeline in the live session
    processing_started: float | None = None  # monotonic, for the real-time factor
    latest_latency: float | None = None  # emitted_at - end of the last final
    viewers: dict[int, Viewer] = field(default_factory=dict)
    memory: deque[Durable] = field(default_factory=deque)
    on_latency: Callable[[str, float], None] | None = None
    compute_rtf: Callable[[], float] | None = None  # the pipeline's own compute/audio ratio
    compute_load: Callable[[], float] | None = None  # the same, as its load (livetrans.realtime)
    recognised_seconds: Callable[[], float] | None = None  # the pipeline's audio recognised so far
    listeners: list[Listener] = field(default_factory=list)
    pts_offset: float | None = None  # s, presentation time of the session's first sample

    # ------------------------------------------------------------------ session

    def begin(self, source_lang: str | None, languages: list[str], pts_offset: float | None = None) -> int:
        """Start a live session; returns the seq base the pipeline continues from.

        ``pts_offset``: the presentation time (s) of the first audio sample in the
        broadcast's timeline, when known (HLS subtitles line up with the video by it).
        """
        if self.live:
            raise RuntimeError(f"stream {self.name!r} is already live")
        self.live = True
        self.sessions += 1
        self.source_lang = source_lang
        self.languages = list(languages)
        self.started_at = time.time()
        self.processing_started = time.monotonic()
        self.audio_seconds = 0.0
        self.compute_rtf = None
        self.compute_load = None
        self.recognised_seconds = None
        self.pts_offset = pts_offset
        record: dict[str, Any] = {
            "type": "session",
            "stream": self.name,
            "seq_base": self.last_seq,
            "source_lang": source_lang,
            "languages": self.languages,
            "started_at": round(self.started_at, 3),
        }
        if pts_offset is not None:
            record["pts_offset"] = round(pts_offset, 6)
        if self.journal is not None:
            self.journal.append_record(record)
        if self.outlet is not None:
            self.outlet.marker(record)
        self._notify(record, True)
        return self.last_seq

    def resume(self, record: dict[str, Any]) -> None:
        """A mirror: the stream went live (again) on its worker (``record`` is the session
        marker as ``begin`` wrote it); viewers stay connected."""
        languages = record.get("languages")
        source_lang = record.get("source_lang")
        started_at = record.get("started_at")
        pts_offset = record.get("pts_offset")
        self.live = True
        self.sessions += 1
        self.source_lang = source_lang if isinstance(source_lang, str) else None
        self.languages = [str(x) for x in languages] if isinstance(languages, list) else []
        self.started_at = float(started_at) if isinstance(started_at, (int, float)) else None
        self.pts_offset = float(pts_offset) if isinstance(pts_offset, (int, float)) else None
        self._notify(record, True)

    def _notify(self, data: dict[str, Any], durable: bool) -> None:
        for listener in list(self.listeners):
            try:
                listener(data, durable)
            except Exception:  # a consumer's bug must not stop captions for viewers
                logger.exception("stream %s: event listener failed", self.name)

    def end(self, reason: str) -> None:
        """End the live session: every viewer gets ``end`` after what it already has."""
        message = end_message(self.name, self.last_seq, reason)
        if self.journal is not None and self.live:
            self.journal.append_record(message)
        if self.outlet is not None and self.live:
            self.outlet.marker(message)
        if self.live:
            self._notify(message, True)
        self.live = False
        payload = dumps(message).encode("utf-8")
        for viewer in list(self.viewers.values()):
            viewer.queue.offer(QueueItem(payload, control=True, enqueued_at=time.monotonic()))
            viewer.wake()

    @property
    def realtime_factor(self) -> float | None:
        """Compute seconds per audio second (>1: cannot keep up), as the stream's load on
        the speech model: the pipeline's own figure when it keeps one (the higher of the
        whole stream's and the last minute's, livetrans.realtime), else wall seconds per
        audio second consumed."""
        if not self.live:
            return None
        if (measured := self.compute_load or self.compute_rtf) is not None:
            value = measured()
            return value if value > 0 else None
        if self.processing_started is None or self.audio_seconds <= 0:
            return None
        return (time.monotonic() - self.processing_started) / self.audio_seconds

    @property
    def lag(self) -> float | None:
        """Audio seconds fed to the pipeline and not yet recognised: it grows while the
        stream falls behind real time, and shrinks as it catches up."""
        if not self.live or self.recognised_seconds is None:
            return None
        return max(self.audio_seconds - self.recognised_seconds(), 0.0)

    # ------------------------------------------------------------------ publish

    def publish(self, event: Event) -> int:
        """Fan one pipeline event out; returns how many viewers it was queued for.

        Durable events must arrive with seq = last_seq + 1 (the pipeline numbers
        them from the seq base ``begin`` returned); anything else is a bug
        upstream and is renumbered with a warning rather than breaking resume.
        """
        durable = _durable_of(event)
        data = event_to_dict(event)
        if isinstance(event, WatermarkEvent):
            # Only consumers that package by time want it (here, and on the edges through
            # the bus); viewers never get it.
            data["seq"] = self.last_seq
            if self.outlet is not None:
                self.outlet.partial(json.dumps(data, separators=(",", ":")).encode("utf-8"), "watermark")
            self._notify(data, False)
            return 0
        if durable:
            expected = self.last_seq + 1
            if data["seq"] != expected:
                logger.warning(
                    "stream %s: event seq %s, expected %d; renumbered", self.name, data["seq"], expected
                )
                data["seq"] = expected
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if durable:
            if self.journal is not None:
                self.journal.append(payload)
            if self.outlet is not None:
                self.outlet.durable(int(data["seq"]), payload)
            if isinstance(event, (TranslationEvent, CaptionEvent)) and self.on_latency is not None:
                kind = "translation" if isinstance(event, TranslationEvent) else event.kind
                self.on_latency(kind, event.emitted_at - event.end)
            if isinstance(event, CaptionEvent):
                self.latest_latency = event.emitted_at - event.end
        elif self.outlet is not None:
            self.outlet.partial(payload, _track(data))
        return self.fan_out(data, payload, durable)

    def fan_out(self, data: dict[str, Any], payload: bytes, durable: bool) -> int:
        """Offer one encoded event to the viewers (and keep it for resume if durable);
        returns how many viewers it was queued for. ``publish`` calls this; so does an
        edge's mirror of a bus stream, with events it read from Redis."""
        self._notify(data, durable)
        event_type = str(data.get("type", ""))
        if event_type == "watermark":
            return 0  # for listeners only
        lang = str(data.get("lang", ""))
        item_seq = int(data["seq"])
        if durable:
            self.last_seq = item_seq
            self.memory.append(Durable(item_seq, event_type, lang, payload))
            while len(self.memory) > self.memory_events:
                self.memory.popleft()
        # A final supersedes the waiting partial of its own track: a caption's by its
        # caption id, a translation draft by its sentence id, per language.
        caption_id = str(data.get("id", "")) if event_type in ("caption", "translation") else ""
        track = _track(data)
        now = time.monotonic()
        cache: dict[tuple[str | None, bool], bool] = {}
        queued = 0
        for viewer in list(self.viewers.values()):
            key = (viewer.request.lang, viewer.request.source)
            wants = cache.get(key)
            if wants is None:
                wants = cache[key] = viewer_wants(viewer.request, event_type, lang)
            if not wants:
                continue
            item = QueueItem(
                payload, seq=item_seq, durable=durable, caption_id=caption_id, track=track, enqueued_at=now
            )
            viewer.queue.offer(item)
            queued += 1
            viewer.wake()  # an overflowed queue wakes the sender too, which closes it
        return queued

    # ------------------------------------------------------------------ viewers

    def add_viewer(self, viewer: Viewer) -> None:
        """Register a viewer; durable events after ``last_seq`` now reach its queue."""
        viewer.replay_upto = self.last_seq
        viewer.last_sent_seq = viewer.request.since if viewer.request.since is not None else self.last_seq
        self.viewers[viewer.id] = viewer

    def remove_viewer(self, viewer: Viewer) -> None:
        self.viewers.pop(viewer.id, None)

    def replay_from_memory(self, viewer: Viewer) -> list[Durable] | None:
        """The viewer's replay (since < seq <= replay_upto) from memory, or None if memory
        does not reach back far enough (then read the journal)."""
        since = viewer.request.since
        if since is None or since >= viewer.replay_upto:
            return []
        if not self.memory or self.memory[0].seq > since + 1:
            return None
        return [
            d
            for d in self.memory
            if since < d.seq <= viewer.replay_upto and viewer_wants(viewer.request, d.type, d.lang)
        ]


class ViewerIds:
    """Process-unique viewer ids."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def new(self) -> int:
        return next(self._next)
