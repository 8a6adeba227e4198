"""When the models are called: recognition and translation scheduling as plain objects.

No asyncio and no threads here: a shell calls these objects and decides where the
model calls run. The live pipeline (``pipeline.py``) runs them on the event loop with
the model calls in worker threads and the real clock; the virtual-clock replay
(``evaluation/replay.py``) runs the same objects in one thread, moving a
:class:`VirtualClock` on by what each model call cost. Tests drive them either way.

- :class:`RecognitionScheduler`: audio that arrived while the recogniser was busy
  goes in one push, so it catches up instead of falling further behind.
- :class:`TranslationScheduler`: finished sentences before drafts, a backlog in one
  batched call, a draft in progress stopped when a sentence ends differently, and a
  failing translation costs only its sentences' translation (an :class:`ErrorEvent`).

Both add the time their model calls took to ``compute_seconds`` (the real-time
factor's numerator), and charge it to the clock (a virtual clock moves on by it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, TypeVar

import numpy as np

from .core.drafts import DraftTracker
from .core.vocabulary import Vocabulary
from .mt.stage import normalize_text  # light: no model library (livetrans.mt's rule)
from .realtime import RealTimeFactor
from .types import (
    AudioChunk,
    ErrorEvent,
    Event,
    SentenceEvent,
    TranslationEvent,
    WatermarkEvent,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class Clock(Protocol):
    """Seconds that only go forward; ``charge`` accounts for a model call's cost."""

    def now(self) -> float: ...

    def charge(self, seconds: float) -> None: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    """The monotonic wall clock: a model call's time has passed by itself."""

    def now(self) -> float:
        return time.monotonic()

    def charge(self, seconds: float) -> None:
        pass

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class VirtualClock:
    """Simulated seconds: they pass only when charged, slept or advanced to."""

    def __init__(self, start: float = 0.0) -> None:
        self.time = start

    def now(self) -> float:
        return self.time

    def charge(self, seconds: float) -> None:
        self.time += seconds

    def advance_to(self, time_: float) -> None:
        """Wait, idle, until ``time_`` (nothing when it has passed)."""
        self.time = max(self.time, time_)

    async def sleep(self, seconds: float) -> None:
        self.time += seconds


# What a model call cost, given the wall seconds it took: the virtual replay charges a
# fixed cost per decode instead, so that its results do not depend on the machine's load.
CostRule = Callable[[float], float]


def _measured(seconds: float) -> float:
    return seconds


class _ModelMeter:
    """Times model calls: the real seconds add up for the real-time factor, and the
    cost (by ``cost``) is charged to the clock."""

    def __init__(self, clock: Clock, cost: CostRule | None) -> None:
        self.clock = clock
        self.cost = cost or _measured
        self.compute_seconds = 0.0  # wall seconds spent in model calls
        self._lock = threading.Lock()  # calls may finish on different threads

    def call(self, fn: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return fn()
        finally:
            spent = time.perf_counter() - started
            with self._lock:
                self.compute_seconds += spent
                self.clock.charge(self.cost(spent))


class Recognizer(Protocol):
    """What scheduling needs of the streaming recogniser (core/recognizer.py)."""

    def push(self, chunk: AudioChunk) -> Sequence[Event]: ...

    def flush(self) -> Sequence[Event]: ...


def _join_chunks(chunks: Sequence[AudioChunk]) -> AudioChunk:
    if len(chunks) == 1:
        return chunks[0]
    return AudioChunk(np.concatenate([c.samples for c in chunks]), chunks[0].start)


class RecognitionScheduler:
    """Decides when the recogniser is called and with what audio.

    ``offer`` audio as it arrives; ``take`` gives everything that arrived since the
    last call as one chunk (None when nothing did); ``recognise`` calls the recogniser
    on it (the one blocking call, safe to run in a worker thread); ``finish`` once the
    audio has ended. Watermarks come from ``watermarks`` after each call.
    """

    def __init__(
        self,
        recognizer: Recognizer,
        clock: Clock,
        *,
        watermark_interval: float | None = None,
        cost: CostRule | None = None,
    ) -> None:
        self.recognizer = recognizer
        self.meter = _ModelMeter(clock, cost)
        self.watermark_interval = watermark_interval  # s of audio between watermarks; None: none
        self.factor = RealTimeFactor()  # the recognise calls' audio and compute seconds
        self.audio_ended = False  # set by the shell when the source has no more audio
        self._pending: list[AudioChunk] = []
        self._audio_end = 0.0  # stream seconds: the end of the audio recognised
        self._watermark = 0.0  # the last watermark sent

    @property
    def compute_seconds(self) -> float:
        return self.meter.compute_seconds

    @property
    def audio_seconds(self) -> float:
        """Audio recognised so far."""
        return self.factor.audio_seconds

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    def offer(self, chunk: AudioChunk) -> None:
        self._pending.append(chunk)

    def take(self) -> AudioChunk | None:
        """All the audio waiting, as one chunk: the recogniser catches up in one call."""
        if not self._pending:
            return None
        batch = _join_chunks(self._pending)
        self._pending.clear()
        return batch

    def recognise(self, batch: AudioChunk) -> list[Event]:
        before = self.meter.compute_seconds
        events = list(self.meter.call(lambda: self.recognizer.push(batch)))
        self.factor.add(batch.duration, self.meter.compute_seconds - before)
        self._audio_end = batch.end
        return events

    def finish(self) -> list[Event]:
        """The recogniser's last events at the end of the audio."""
        return list(self.meter.call(self.recognizer.flush))

    def watermarks(self, *, final: bool = False) -> list[WatermarkEvent]:
        """Mid-stream (after a ``recognise``): a watermark when the settled time has moved
        on by the interval, while audio still comes. ``final`` (after ``finish``): one at
        the end of the audio, all of it recognised."""
        if self.watermark_interval is None:
            return []
        if final:
            time_ = self._audio_end
        elif self.audio_ended:
            return []  # the last one comes after the flush, with the audio's end
        else:
            time_ = float(getattr(self.recognizer, "settled_until", 0.0))
            if time_ - self._watermark < self.watermark_interval:
                return []
        if time_ <= self._watermark:
            return []
        self._watermark = time_
        return [WatermarkEvent(time=round(time_, 3))]


class SentenceTranslator(Protocol):
    """What scheduling needs of the translation stage (livetrans.mt)."""

    def push(self, sentence: SentenceEvent, vocabulary: Vocabulary | None = None) -> list[TranslationEvent]: ...

    def push_many(
        self, sentences: Sequence[SentenceEvent], vocabulary: Vocabulary | None = None
    ) -> list[TranslationEvent]: ...

    def push_each(
        self, sentences: Sequence[SentenceEvent], vocabulary: Vocabulary | None = None
    ) -> list[list[TranslationEvent]]: ...

    def push_draft(
        self,
        sentence: SentenceEvent,
        cancel: Callable[[], bool] | None = None,
        vocabulary: Vocabulary | None = None,
    ) -> list[TranslationEvent] | None: ...


@dataclass(frozen=True)
class TranslationJob:
    """One translator call: finished sentences (``draft`` None) or one draft."""

    sentences: tuple[SentenceEvent, ...] = ()
    draft: SentenceEvent | None = None


@dataclass(frozen=True)
class JobResult:
    job: TranslationJob
    events: tuple[Event, ...]  # translations and errors
    cancelled: bool = False  # a draft stopped for a finished sentence


def _same_text(a: SentenceEvent, b: SentenceEvent) -> bool:
    """The same sentence with the same text, as the translation cache sees it."""
    return a.id == b.id and normalize_text(a.text) == normalize_text(b.text)


def _error(sentence: SentenceEvent, error: Exception) -> ErrorEvent:
    return ErrorEvent(stage="translation", code="translation_failed", message=f"{type(error).__name__}: {error}", id=sentence.id)


class TranslationScheduler:
    """Decides what is translated next, and keeps a failing call from ending the stream.

    The shell feeds it the recogniser's events (``notice``), asks ``next_job`` when the
    translator is free, runs ``run`` (the blocking call, safe in a worker thread) and
    hands the result to ``complete`` for the events to publish. ``end`` says no more
    sentences will come; ``done`` is then true once all are translated.
    """

    def __init__(
        self,
        translator: SentenceTranslator,
        clock: Clock,
        *,
        drafts: DraftTracker | None = None,
        cost: CostRule | None = None,
    ) -> None:
        self.translator = translator
        self.drafts = drafts  # None: finished sentences only
        self.meter = _ModelMeter(clock, cost)
        self.errors = 0  # sentences left untranslated by a failing call
        # The stream's vocabulary once replaced live (None: the stage's own glossary);
        # its terms are kept or translated as given from the next call on.
        self.vocabulary: Vocabulary | None = None
        self._sentences: deque[SentenceEvent] = deque()
        self._ended = False
        self._drafting: SentenceEvent | None = None  # the draft being translated
        # Set when a finished sentence waits: a draft in progress polls it and stops.
        self._sentence_waiting = threading.Event()

    @property
    def compute_seconds(self) -> float:
        return self.meter.compute_seconds

    @property
    def backlog(self) -> int:
        """Finished sentences waiting for the translator."""
        return len(self._sentences)

    @property
    def done(self) -> bool:
        return self._ended and not self._sentences

    @property
    def sentence_waiting(self) -> bool:
        """A finished sentence waits that the draft in progress must make way for
        (what the draft's call polls to stop early)."""
        return self._sentence_waiting.is_set()

    def notice(self, event: Event) -> None:
        """Follow one recogniser event: sentences queue, captions move the draft on."""
        if self.drafts is not None:
            self.drafts.push(event)
        if isinstance(event, SentenceEvent):
            self._sentences.append(event)
            if not (self._drafting is not None and _same_text(self._drafting, event)):
                # (A sentence that ended as the draft in progress says lets it finish:
                # its translation is the final one, from the cache.)
                self._sentence_waiting.set()

    def end(self) -> None:
        self._ended = True

    def next_job(self) -> TranslationJob | None:
        """Finished sentences first, all that queued up in one call (a backlog costs far
        less batched than one by one); else a draft of the sentence being spoken."""
        if self._sentences:
            batch = tuple(self._sentences)
            self._sentences.clear()
            return TranslationJob(sentences=batch)
        if self.drafts is None or (draft := self.drafts.take()) is None:
            return None
        self._sentence_waiting.clear()
        self._drafting = draft
        return TranslationJob(draft=draft)

    def run(self, job: TranslationJob) -> JobResult:
        """The translator call; an exception becomes an ErrorEvent per sentence lost."""
        if job.draft is not None:
            return self._run_draft(job, job.draft)
        try:
            events = self.meter.call(lambda: self.translator.push_many(job.sentences, self.vocabulary))
            return JobResult(job, tuple(events))
        except Exception as e:  # noqa: BLE001 (whatever a model raises costs its sentences only)
            if len(job.sentences) == 1:
                return JobResult(job, (self._failed(job.sentences[0], e),))
            log.warning("a batch of %d sentences failed to translate (%s); one by one", len(job.sentences), e)
        out: list[Event] = []
        for sentence in job.sentences:  # so that one bad sentence costs only its own translation
            try:
                out.extend(self.meter.call(partial(self.translator.push, sentence, self.vocabulary)))
            except Exception as e:  # noqa: BLE001
                out.append(self._failed(sentence, e))
        return JobResult(job, tuple(out))

    def _run_draft(self, job: TranslationJob, draft: SentenceEvent) -> JobResult:
        try:
            events = self.meter.call(
                lambda: self.translator.push_draft(draft, self._sentence_waiting.is_set, self.vocabulary)
            )
        except Exception as e:  # noqa: BLE001
            # A draft is a preview: its sentence's final translation is still to come.
            log.warning("draft translation of %s failed: %s", draft.id, e)
            return JobResult(job, ())
        if events is None:
            return JobResult(job, (), cancelled=True)
        return JobResult(job, tuple(events))

    def _failed(self, sentence: SentenceEvent, error: Exception) -> ErrorEvent:
        self.errors += 1
        log.warning("sentence %s not translated: %s", sentence.id, error, exc_info=error)
        return _error(sentence, error)

    def complete(self, result: JobResult) -> list[Event]:
        """The events of a finished call to publish (a draft of a sentence that has
        ended meanwhile is dropped: its final is due)."""
        if result.job.draft is None:
            return list(result.events)
        self._drafting = None
        if result.cancelled:
            if self.drafts is not None:
                self.drafts.retry(result.job.draft)  # offer it again after the sentence
            return []
        drafts = self.drafts
        return [
            e for e in result.events
            if drafts is None or not isinstance(e, TranslationEvent) or drafts.is_open(e.id)
        ]
