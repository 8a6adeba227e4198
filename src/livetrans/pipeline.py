"""Wiring: one stream's audio → recognition (→ translation) → stamped events.

The asyncio shell around the scheduling objects (``scheduling.py``): it takes audio
off the source, runs each model call in a worker thread, and publishes what comes
out. Recognition gets all the audio that arrived while it was busy (so it catches
up instead of falling further behind); translation, when asked for, runs in its own
worker thread beside it, so recognition never waits for it (only when more than
``translation_queue`` sentences wait untranslated). A failing translation costs that
sentence's translation (an ``error`` event), never the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .asr.silero import SileroSession
from .asr.whisper import ChineseScript, Device, Task, WhisperEngine
from .core.batching import BatchOptions
from .core.decoding import Decoder
from .core.drafts import DraftTracker
from .core.driver import DecodingRecognizer
from .core.recognizer import StreamingRecognizer
from .core.recognizer_options import RecognizerOptions
from .core.vocabulary import Vocabulary, load_vocabulary
from .scheduler import BatchingDecoder
from .scheduling import (
    Clock,
    RealClock,
    RecognitionScheduler,
    SentenceTranslator,
    TranslationScheduler,
)
from .types import AudioChunk, Event, is_durable

if TYPE_CHECKING:
    from .mt.base import Translator

log = logging.getLogger(__name__)
T = TypeVar("T")

# SentenceTranslator: the server and the replay name it here.
__all__ = ["EventStamper", "LivePipeline", "PipelineConfig", "SentenceTranslator", "SpeechModels",
           "build_translation_stage"]

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
        recognizer = StreamingRecognizer(self.vad.stream(), options, vocabulary, self.whisper.everyday_words)
        return DecodingRecognizer(recognizer, decoder)


# How much nicer (Linux) the translation model's threads run than recognition's: on a
# busy CPU the source captions go first and translation takes what is left
# (docs/translation.md has what it changed).
TRANSLATION_NICENESS = 10


def load_config_translator(config: PipelineConfig) -> Translator:
    """The translation model(s) of ``config.mt_model`` on one thread, whose threads run
    ``TRANSLATION_NICENESS`` nicer than recognition's; a non-commercial license is logged."""
    from .mt import load_translator

    translator = at_translation_priority(
        lambda: load_translator(config.mt_model, engine=config.mt_engine, device=config.device, intra_threads=1)
    )
    for info in translator.models:
        if info.license_notice:
            log.warning("%s", info.license_notice)
    return translator


def at_translation_priority(load: Callable[[], T], niceness: int = TRANSLATION_NICENESS) -> T:
    """``load()`` in a new thread ``niceness`` nicer than this one. On Linux the nice
    value belongs to a thread and the threads it starts inherit it, so a CTranslate2
    model loaded there computes in threads that yield to recognition's. Elsewhere it
    would lower the whole process: there ``load()`` runs as is."""
    if sys.platform != "linux" or niceness <= 0:
        return load()

    def nicer_load() -> T:
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, os.getpriority(os.PRIO_PROCESS, me) + niceness)
        return load()

    with ThreadPoolExecutor(1, thread_name_prefix="livetrans-translation-load") as loader:
        return loader.submit(nicer_load).result()  # its exception, if any, raised here


def build_translation_stage(
    config: PipelineConfig, source_language: str | None, translator: Translator | None = None
) -> SentenceTranslator | None:
    """The translation stage for ``config.targets`` (None when there are none).

    Loads the model (unless ``translator``, already loaded, is given) and checks every
    pair before any audio, so that a pair the model cannot do is refused when the
    stream starts, not in the middle.
    """
    if not config.targets:
        return None
    from .mt import TranslationStage, load_glossary

    if translator is None:
        translator = load_config_translator(config)
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
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        # Read (and checked) before any model loads: a malformed file fails the start.
        self.vocabulary = vocabulary if vocabulary is not None else config.load_vocabulary()
        self._recognizer: DecodingRecognizer | None = None
        self.models = models or SpeechModels.load(config)
        self.translator = translator
        self.translation_queue = translation_queue  # sentences waiting before recognition waits too
        self.clock: Clock = clock or RealClock()
        self.recognition: RecognitionScheduler | None = None  # the running stream's
        self.translation: TranslationScheduler | None = None
        self._replaced_vocabulary: Vocabulary | None = None  # set live (None: the glossary file's)

    def set_vocabulary(self, vocabulary: Vocabulary) -> None:
        """Replace the stream's vocabulary: recognition takes it at the next utterance,
        translation at its next call (the stream's sentences only: a server shares one
        translation stage between streams)."""
        self.vocabulary = vocabulary
        self._replaced_vocabulary = vocabulary
        if self._recognizer is not None:
            self._recognizer.set_vocabulary(vocabulary)
        if self.translation is not None:
            self.translation.vocabulary = vocabulary

    @property
    def audio_seconds(self) -> float:
        """Audio recognised so far."""
        return self.recognition.audio_seconds if self.recognition is not None else 0.0

    @property
    def compute_seconds(self) -> float:
        """Wall seconds spent in recognition calls."""
        return self.recognition.compute_seconds if self.recognition is not None else 0.0

    @property
    def decodes(self) -> int:
        """Speech-model calls made for this stream so far (a batched call counts one per
        stream in it; a failed call counts too)."""
        return self._recognizer.stats.decodes if self._recognizer is not None else 0

    @property
    def real_time_factor(self) -> float:
        return self.compute_seconds / self.audio_seconds if self.audio_seconds else 0.0

    @property
    def load_factor(self) -> float:
        """The stream's load on the speech model (realtime.py): the higher of its
        whole-stream and its last minute's real-time factor."""
        return self.recognition.factor.load if self.recognition is not None else 0.0

    def _schedulers(self) -> tuple[RecognitionScheduler, TranslationScheduler | None]:
        recognizer = self.models.recognizer(self.config.recognizer_options(), self.vocabulary)
        self._recognizer = recognizer
        recognition = RecognitionScheduler(
            recognizer, self.clock, watermark_interval=self.config.watermark_interval
        )
        translation = None
        if self.translator is not None:
            drafting = self.config.translation_drafts
            drafts = DraftTracker(self.config.recognizer.segmenter) if drafting else None
            translation = TranslationScheduler(self.translator, self.clock, drafts=drafts)
            translation.vocabulary = self._replaced_vocabulary
        self.recognition, self.translation = recognition, translation
        return recognition, translation

    async def run(
        self, audio: AsyncIterator[AudioChunk], *, seq_base: int = 0
    ) -> AsyncIterator[Event]:
        """Events as they become ready; returns after the audio ends and all is flushed.

        ``emitted_at`` counts from the moment the first audio sample was released:
        the first chunk's arrival minus its duration.
        """
        recognition, translation = self._schedulers()
        out: asyncio.Queue[Event | None] = asyncio.Queue()
        arrived = asyncio.Event()  # audio came, or the source ended
        work = asyncio.Event()  # for the translator: a sentence queued, or the open one changed
        room = asyncio.Event()  # the translator took the sentences waiting
        origin: list[float] = []
        clock = self.clock
        stamper = EventStamper(seq_base, lambda: clock.now() - origin[0])

        async def take_audio() -> None:
            async for chunk in audio:
                if not origin:
                    origin.append(clock.now() - chunk.duration)
                recognition.offer(chunk)
                arrived.set()
            recognition.audio_ended = True
            arrived.set()

        async def publish(events: Sequence[Event]) -> None:
            for event in events:
                await out.put(event)
                if translation is not None:
                    translation.notice(event)
                    work.set()
            while translation is not None and translation.backlog >= self.translation_queue:
                room.clear()
                await room.wait()

        async def recognise() -> None:
            while True:
                await arrived.wait()
                arrived.clear()
                if (batch := recognition.take()) is not None:
                    await publish(await asyncio.to_thread(recognition.recognise, batch))
                    await publish(recognition.watermarks())
                if recognition.audio_ended and not recognition.has_pending:
                    break
            await publish(await asyncio.to_thread(recognition.finish))
            await publish(recognition.watermarks(final=True))  # all audio is recognised
            if translation is not None:
                translation.end()
                work.set()

        async def translate(translation: TranslationScheduler) -> None:
            while not translation.done:
                job = translation.next_job()
                if job is None:
                    work.clear()
                    await work.wait()
                    continue
                room.set()
                result = await asyncio.to_thread(translation.run, job)
                for event in translation.complete(result):
                    await out.put(event)

        stages: list[Callable[[], Coroutine[Any, Any, None]]] = [take_audio, recognise]
        if translation is not None:
            stages.append(lambda: translate(translation))
        producer = asyncio.create_task(_produce(stages, out))
        try:
            while (event := await out.get()) is not None:
                yield stamper.stamp(event)
            await producer  # re-raise what failed inside
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer


async def _produce(stages: Sequence[Callable[[], Coroutine[Any, Any, None]]], out: asyncio.Queue[Event | None]) -> None:
    """Run the stages together; end ``out`` with None however they end."""
    try:
        async with asyncio.TaskGroup() as group:
            for stage in stages:
                group.create_task(stage())
    except BaseExceptionGroup as group_error:
        # One stage failed and the others were cancelled: report that one
        # failure as itself (an InputError stays an InputError).
        raise _first_failure(group_error) from None
    finally:
        await out.put(None)
