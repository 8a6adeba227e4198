"""Wiring: one stream's audio → recognition (→ translation) → stamped events.

This is the one place that schedules blocking model work off the event loop:
recognition runs in a worker thread and always gets all the audio that arrived
while it was busy (so it catches up instead of falling further behind);
translation, when asked for, runs in its own worker thread behind a bounded
queue, so recognition never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from .asr.silero import SileroSession
from .asr.whisper import ChineseScript, Device, Task, WhisperEngine
from .core.batching import BatchOptions
from .core.decoding import Decoder
from .core.drafts import DraftTracker
from .core.driver import DecodingRecognizer
from .core.recognizer import RecognizerOptions, StreamingRecognizer
from .core.vocabulary import Vocabulary, load_vocabulary
from .mt.stage import normalize_text  # light: no model library (livetrans.mt's rule)
from .scheduler import BatchingDecoder
from .types import (
    AudioChunk,
    Event,
    SentenceEvent,
    TranslationEvent,
    WatermarkEvent,
    is_durable,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineConfig:
    model: str = "base"  # a catalog name, hub id or local CTranslate2 Whisper folder
    device: Device = "cpu"  # cpu: int8; cuda: float16
    language: str | None = None  # source language; None detects it per utterance
    task: Task = "transcribe"  # translate: Whisper's own any-language → English
    targets: tuple[str, ...] = ()  # translation target languages
    mt_model: str = "nllb-200-distilled-600M"  # translation model spec (docs/translation.md)
    mt_engine: Literal["ctranslate2", "transformers"] = "ctranslate2"
    glossary: Path | None = None  # the vocabulary: terms recognised, and kept or translated as given
    translation_drafts: bool = True  # live: also translate the sentence so far (docs/translation.md)
    cpu_threads: int = 0  # 0: CTranslate2's default (all cores)
    chinese_script: ChineseScript = "simplified"  # how Mandarin captions are written
    recognizer: RecognizerOptions = field(default_factory=RecognizerOptions)
    beam: int | None = None  # streaming decodes' beam size; None: the recogniser's (3)
    # s of audio between watermark events (docs/events.md); None: none are sent
    watermark_interval: float | None = None

    def recognizer_options(self) -> RecognizerOptions:
        beam = self.beam if self.beam is not None else self.recognizer.beam
        schedule = replace(self.recognizer.schedule, beam=beam)
        return replace(self.recognizer, language=self.language, schedule=schedule)

    def load_vocabulary(self) -> Vocabulary:
        """The ``glossary`` file's terms (GlossaryError if it is malformed), or none."""
        return load_vocabulary(self.glossary) if self.glossary is not None else Vocabulary()


class SentenceTranslator(Protocol):
    """What the pipeline needs of the translation stage (livetrans.mt)."""

    def push(self, sentence: SentenceEvent) -> list[TranslationEvent]: ...

    def push_many(self, sentences: Sequence[SentenceEvent]) -> list[TranslationEvent]: ...

    def push_draft(
        self, sentence: SentenceEvent, cancel: Callable[[], bool] | None = None
    ) -> list[TranslationEvent] | None: ...


@dataclass
class SpeechModels:
    """The loaded speech models, shared by every stream of a process."""

    whisper: WhisperEngine
    vad: SileroSession
    # Every stream's decodes batched into shared model calls (the server's streams);
    # None: each stream calls the model itself, one decode at a time.
    batching: BatchingDecoder | None = None

    @classmethod
    def load(cls, config: PipelineConfig, *, progress: bool = True) -> SpeechModels:
        from .models import resolve_whisper_model

        path = resolve_whisper_model(config.model, progress=progress)
        whisper = WhisperEngine(
            path,
            device=config.device,
            cpu_threads=config.cpu_threads,
            task=config.task,
            chinese_script=config.chinese_script,
        )
        whisper.check_language(config.language)
        return cls(whisper=whisper, vad=SileroSession())

    def start_batching(self, options: BatchOptions | None = None) -> BatchingDecoder:
        """From now on, new streams' decodes go through one scheduler that batches them."""
        if self.batching is None:
            from .asr.whisper_batch import decode_batch

            self.batching = BatchingDecoder(functools.partial(decode_batch, self.whisper), options)
        return self.batching

    def recognizer(self, options: RecognizerOptions, vocabulary: Vocabulary | None = None) -> DecodingRecognizer:
        """A stream's recogniser, its decodes answered by this process's Whisper."""
        decoder: Decoder = self.whisper if self.batching is None else self.batching.stream()
        return DecodingRecognizer(StreamingRecognizer(self.vad.stream(), options, vocabulary), decoder)


def build_translation_stage(
    config: PipelineConfig, source_language: str | None
) -> SentenceTranslator | None:
    """The translation stage for ``config.targets`` (None when there are none).

    Loads the model and checks every pair before any audio, so that a pair the
    model cannot do is refused when the stream starts, not in the middle. It runs
    on one thread: on a 2-core machine the other stays with recognition.
    """
    if not config.targets:
        return None
    from .mt import TranslationStage, load_glossary, load_translator

    translator = load_translator(
        config.mt_model, engine=config.mt_engine, device=config.device, intra_threads=1
    )
    if translator.info.license_notice:
        log.warning("%s", translator.info.license_notice)
    glossary = load_glossary(config.glossary) if config.glossary is not None else None
    stage = TranslationStage(translator, config.targets, glossary=glossary)
    stage.check(source_language)
    return stage


class EventStamper:
    """Gives durable events consecutive seqs and every event its emission time."""

    def __init__(self, seq_base: int, clock: Callable[[], float]) -> None:
        self.seq = seq_base
        self._clock = clock

    def stamp(self, event: Event) -> Event:
        if not is_durable(event):
            return replace(event, seq=self.seq, emitted_at=self._clock())
        self.seq += 1
        return replace(event, seq=self.seq, emitted_at=self._clock())


def _first_failure(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_failure(first) if isinstance(first, BaseExceptionGroup) else first


def _same_text(a: SentenceEvent, b: SentenceEvent) -> bool:
    """The same sentence with the same text, as the translation cache sees it."""
    return a.id == b.id and normalize_text(a.text) == normalize_text(b.text)


def _join_chunks(chunks: Sequence[AudioChunk]) -> AudioChunk:
    if len(chunks) == 1:
        return chunks[0]
    return AudioChunk(np.concatenate([c.samples for c in chunks]), chunks[0].start)


class LivePipeline:
    """Runs one stream; make one per stream, share :class:`SpeechModels` between them."""

    def __init__(
        self,
        config: PipelineConfig,
        *,
        models: SpeechModels | None = None,
        translator: SentenceTranslator | None = None,
        translation_queue: int = 64,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        self.config = config
        # Read (and checked) before any model loads: a malformed file fails the start.
        self.vocabulary = vocabulary if vocabulary is not None else config.load_vocabulary()
        self._recognizer: DecodingRecognizer | None = None
        self.models = models or SpeechModels.load(config)
        self.translator = translator
        self.translation_queue = translation_queue
        self.audio_seconds = 0.0  # audio taken in so far
        self.compute_seconds = 0.0  # wall time spent in recognition

    def set_vocabulary(self, vocabulary: Vocabulary) -> None:
        """Replace the stream's vocabulary for recognition; it takes effect at the next
        utterance. (Translation keeps the glossary it started with: a server shares one
        translation stage between streams.)"""
        self.vocabulary = vocabulary
        if self._recognizer is not None:
            self._recognizer.set_vocabulary(vocabulary)

    @property
    def real_time_factor(self) -> float:
        return self.compute_seconds / self.audio_seconds if self.audio_seconds else 0.0

    async def run(
        self, audio: AsyncIterator[AudioChunk], *, seq_base: int = 0
    ) -> AsyncIterator[Event]:
        """Events as they become ready; returns after the audio ends and all is flushed.

        ``emitted_at`` counts from the moment the first audio sample was released:
        the first chunk's arrival minus its duration.
        """
        recognizer = self.models.recognizer(self.config.recognizer_options(), self.vocabulary)
        self._recognizer = recognizer
        out: asyncio.Queue[Event | None] = asyncio.Queue()
        pending: list[AudioChunk] = []
        arrived = asyncio.Event()
        audio_done = asyncio.Event()
        origin: list[float] = []
        stamper = EventStamper(seq_base, lambda: time.monotonic() - origin[0])

        async def take_audio() -> None:
            async for chunk in audio:
                if not origin:
                    origin.append(time.monotonic() - chunk.duration)
                pending.append(chunk)
                arrived.set()
            audio_done.set()
            arrived.set()

        sentences: asyncio.Queue[SentenceEvent | None] = asyncio.Queue(self.translation_queue)
        drafting_on = self.translator is not None and self.config.translation_drafts
        drafts = DraftTracker(self.config.recognizer.segmenter) if drafting_on else None
        work = asyncio.Event()  # for the translator: a sentence queued, or the open one changed
        sentence_waiting = threading.Event()  # stops a draft in progress: finished sentences first
        drafting: list[SentenceEvent] = []  # the draft being translated, if any

        def notice(event: Event) -> None:
            if drafts is not None:
                drafts.push(event)
            if isinstance(event, SentenceEvent) and not (drafting and _same_text(drafting[0], event)):
                # (A sentence that ended as the draft in progress says lets it finish: its
                # translation is the final one, from the cache.)
                sentence_waiting.set()
            work.set()

        interval = self.config.watermark_interval
        watermark = [0.0]  # the last one sent

        async def mark(time_: float) -> None:
            if interval is not None and time_ > watermark[0] and (
                time_ - watermark[0] >= interval or audio_done.is_set()
            ):
                watermark[0] = time_
                await out.put(WatermarkEvent(time=round(time_, 3)))

        async def recognise() -> None:
            audio_end = 0.0
            while True:
                await arrived.wait()
                arrived.clear()
                if pending:
                    batch = _join_chunks(pending)
                    pending.clear()
                    await self._publish(
                        await self._timed(recognizer.push, batch), out, sentences, notice
                    )
                    self.audio_seconds += batch.duration
                    audio_end = batch.end
                    if interval is not None and not audio_done.is_set():
                        await mark(recognizer.settled_until)
                if audio_done.is_set() and not pending:
                    break
            await self._publish(await self._timed(recognizer.flush), out, sentences, notice)
            await mark(audio_end)  # all audio is recognised
            await sentences.put(None)
            work.set()

        async def translate() -> None:
            assert self.translator is not None
            done = False
            while not done:
                if sentences.empty():
                    # No finished sentence waits: translate the one being spoken so far,
                    # stopping at once if a finished one comes in meanwhile.
                    if drafts is None or (draft := drafts.take()) is None:
                        work.clear()
                        await work.wait()
                        continue
                    sentence_waiting.clear()
                    drafting[:] = [draft]
                    try:
                        events = await asyncio.to_thread(
                            self.translator.push_draft, draft, sentence_waiting.is_set
                        )
                    finally:
                        drafting.clear()
                    if events is None:
                        drafts.retry(draft)  # stopped for a finished sentence: offer it again after
                        continue
                    for event in events:
                        if drafts.is_open(event.id):  # else the sentence ended: its final is due
                            await out.put(event)
                    continue
                # Whatever queued up while the last call was translating goes in one
                # call: a backlog costs far less batched than one by one.
                batch: list[SentenceEvent | None] = []
                while not sentences.empty():
                    batch.append(sentences.get_nowait())
                done = batch[-1] is None
                todo = [s for s in batch if s is not None]
                if todo:
                    for event in await asyncio.to_thread(self.translator.push_many, todo):
                        await out.put(event)

        async def produce() -> None:
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(take_audio())
                    group.create_task(recognise())
                    if self.translator is not None:
                        group.create_task(translate())
                    else:
                        group.create_task(self._drain(sentences))
            except BaseExceptionGroup as group_error:
                # One stage failed and the others were cancelled: report that one
                # failure as itself (an InputError stays an InputError).
                raise _first_failure(group_error) from None
            finally:
                await out.put(None)

        producer = asyncio.create_task(produce())
        try:
            while (event := await out.get()) is not None:
                yield stamper.stamp(event)
            await producer  # re-raise what failed inside
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer

    async def _timed(self, fn: Callable[..., Sequence[Event]], *args: object) -> Sequence[Event]:
        started = time.perf_counter()
        try:
            return await asyncio.to_thread(fn, *args)
        finally:
            self.compute_seconds += time.perf_counter() - started

    async def _publish(
        self,
        events: Sequence[Event],
        out: asyncio.Queue[Event | None],
        sentences: asyncio.Queue[SentenceEvent | None],
        notice: Callable[[Event], None],
    ) -> None:
        for event in events:
            await out.put(event)
            if isinstance(event, SentenceEvent):
                await sentences.put(event)
            notice(event)

    @staticmethod
    async def _drain(sentences: asyncio.Queue[SentenceEvent | None]) -> None:
        while await sentences.get() is not None:
            pass
