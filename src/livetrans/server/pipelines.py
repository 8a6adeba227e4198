"""The real pipeline behind the server: one LivePipeline per stream session, models shared.

Speech models load once per process (``SpeechModels``), and one scheduler batches
every stream's decodes into shared model calls; a translation stage is
built once per (source language, targets) and shared by the sessions that ask
for the same, behind a lock, since each pipeline calls it from its own worker
thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from ..core.batching import BatchOptions
from ..core.vocabulary import Vocabulary
from ..pipeline import (
    LivePipeline,
    PipelineConfig,
    SentenceTranslator,
    SpeechModels,
    build_translation_stage,
)
from ..types import SentenceEvent, TranslationEvent
from .app import PipelineFactory, PipelineRunner

logger = logging.getLogger(__name__)

WATERMARK_INTERVAL = 0.25  # s of audio between the pipeline's watermark events


class LockedTranslator:
    """A translation stage shared between streams: one call at a time, and finished
    sentences of any stream before drafts: a draft in progress is stopped as soon as
    another stream's sentence waits for the stage."""

    def __init__(self, inner: SentenceTranslator) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._waiting_changed = threading.Condition()
        self._sentences_waiting = 0  # push/push_many calls waiting for the lock

    def push(self, sentence: SentenceEvent, vocabulary: Vocabulary | None = None) -> list[TranslationEvent]:
        return self.push_many([sentence], vocabulary)

    def push_many(
        self, sentences: Sequence[SentenceEvent], vocabulary: Vocabulary | None = None
    ) -> list[TranslationEvent]:
        with self._waiting_changed:
            self._sentences_waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._waiting_changed:
                self._sentences_waiting -= 1
                self._waiting_changed.notify_all()
        try:
            return self._inner.push_many(sentences, vocabulary)
        finally:
            self._lock.release()

    def push_draft(
        self,
        sentence: SentenceEvent,
        cancel: Callable[[], bool] | None = None,
        vocabulary: Vocabulary | None = None,
    ) -> list[TranslationEvent] | None:
        def stop() -> bool:
            return self._sentences_waiting > 0 or (cancel is not None and cancel())

        with self._waiting_changed:  # let waiting sentences in first
            self._waiting_changed.wait_for(lambda: self._sentences_waiting == 0)
        with self._lock:
            return self._inner.push_draft(sentence, stop, vocabulary)


class LivePipelineFactory:
    """``PipelineFactory`` over the real pipeline; build it once per server process."""

    def __init__(self, config: PipelineConfig, models: SpeechModels) -> None:
        self.config = config
        self.models = models
        self._translators: dict[tuple[str | None, tuple[str, ...]], SentenceTranslator | None] = {}

    def translator(self, source_lang: str | None, targets: tuple[str, ...]) -> SentenceTranslator | None:
        """Build (or reuse) the translation stage; blocking the first time: call it at startup
        for the default streams so an encoder's start does not wait for a model load."""
        key = (source_lang, tuple(targets))
        if key not in self._translators:
            if not targets:
                self._translators[key] = None
            else:
                config = replace(self.config, language=source_lang, targets=tuple(targets))
                stage = build_translation_stage(config, source_lang)
                self._translators[key] = LockedTranslator(stage) if stage is not None else None
                logger.info("translation to %s ready", ", ".join(targets))
        return self._translators[key]

    def __call__(self, source_lang: str | None, targets: tuple[str, ...]) -> PipelineRunner:
        # Watermarks let HLS subtitle segments close during silence (docs/hls.md).
        watermarks = self.config.watermark_interval or WATERMARK_INTERVAL
        config = replace(self.config, language=source_lang, targets=tuple(targets), watermark_interval=watermarks)
        return LivePipeline(config, models=self.models, translator=self.translator(source_lang, targets))


def load_pipeline_factory(config: PipelineConfig, *, batching: BatchOptions | None = None) -> PipelineFactory:
    """Load the speech models (slow) and the default translation stage. ``batching``:
    every stream's decodes go through one scheduler that batches them with these
    options (livetrans.scheduler); None: each stream calls the model itself."""
    models = SpeechModels.load(config)
    if batching is not None:
        models.start_batching(batching)
    factory = LivePipelineFactory(config, models)
    factory.translator(config.language, config.targets)
    return factory
