"""The real pipeline behind the server: one LivePipeline per stream session, models shared.

Speech models load once per process (``SpeechModels``), and one scheduler batches
every stream's decodes into shared model calls; a translation stage is
built once per (source language, targets) and shared by the sessions that ask
for the same (:class:`SharedTranslator`: one call at a time, the finished sentences
of every stream waiting in one call), since each pipeline calls it from its own
worker thread.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..core.batching import BatchOptions
from ..core.vocabulary import Vocabulary
from ..pipeline import (
    LivePipeline,
    PipelineConfig,
    SentenceTranslator,
    SpeechModels,
    build_translation_stage,
    load_config_translator,
)
from ..types import SentenceEvent, TranslationEvent
from .app import PipelineFactory, PipelineRunner

if TYPE_CHECKING:
    from ..mt.base import Translator

logger = logging.getLogger(__name__)

WATERMARK_INTERVAL = 0.25  # s of audio between the pipeline's watermark events


@dataclass(eq=False)
class _Waiting:
    """One stream's finished sentences, waiting for the model."""

    stage: SentenceTranslator
    sentences: tuple[SentenceEvent, ...]
    vocabulary: Vocabulary | None
    events: list[list[TranslationEvent]] | None = None
    error: BaseException | None = None
    done: bool = False


class ModelTurns:
    """Whose turn it is on the one translation model of the process: one call at a
    time, finished sentences (of any stream and stage) before drafts."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.busy = False  # a call to the model is in progress
        self.waiting: list[_Waiting] = []
        # streams served in one call of finished sentences -> calls (/metrics)
        self.sizes: collections.Counter[int] = collections.Counter()


class SharedTranslator:
    """A translation stage (one per source language and targets) shared by the streams
    that ask for it, on the model that every stage of the process shares (``turns``).

    - The finished sentences of every stream of this stage that wait when the model
      comes free go in one call: on CPU a call costs about the same for one row as for
      several (a decoding step reads the model's weights once), so N streams' sentences
      cost about one stream's. Streams with different live vocabularies, or of other
      stages, go in separate calls.
    - If that shared call fails, each stream's sentences are translated again on their
      own, so that one stream's bad sentence costs no other stream its translations.
    - Finished sentences of any stream go before drafts: a draft in progress is stopped
      as soon as a sentence waits, and a new draft waits while any do.
    """

    def __init__(self, inner: SentenceTranslator, turns: ModelTurns | None = None) -> None:
        self.stage = inner  # this (source language, targets)'s
        self._turns = turns if turns is not None else ModelTurns()

    @property
    def sentences_waiting(self) -> int:
        return sum(len(w.sentences) for w in self._turns.waiting)

    def push(self, sentence: SentenceEvent, vocabulary: Vocabulary | None = None) -> list[TranslationEvent]:
        return self.push_many([sentence], vocabulary)

    def push_many(
        self, sentences: Sequence[SentenceEvent], vocabulary: Vocabulary | None = None
    ) -> list[TranslationEvent]:
        return [e for events in self.push_each(sentences, vocabulary) for e in events]

    def push_each(
        self, sentences: Sequence[SentenceEvent], vocabulary: Vocabulary | None = None
    ) -> list[list[TranslationEvent]]:
        turns = self._turns
        me = _Waiting(self.stage, tuple(sentences), vocabulary)
        with turns.changed:
            turns.waiting.append(me)
            turns.changed.notify_all()
            turns.changed.wait_for(lambda: me.done or not turns.busy)
            batch: list[_Waiting] = []
            if not me.done:  # the model is free: serve every stream waiting for the same
                batch = [w for w in turns.waiting if w.stage is me.stage and w.vocabulary is vocabulary]
                turns.waiting = [w for w in turns.waiting if w not in batch]
                turns.busy = True
                turns.sizes[len(batch)] += 1
        if batch:
            try:
                self._serve(batch, vocabulary)
            finally:
                with turns.changed:
                    for w in batch:
                        w.done = True
                    turns.busy = False
                    turns.changed.notify_all()
        if me.error is not None:
            raise me.error
        assert me.events is not None
        return me.events

    def _serve(self, batch: list[_Waiting], vocabulary: Vocabulary | None) -> None:
        try:
            events = self.stage.push_each([s for w in batch for s in w.sentences], vocabulary)
        except Exception as e:  # noqa: BLE001 (told to the stream(s) below)
            if len(batch) == 1:
                batch[0].error = e
                return
            logger.warning("a shared translation call for %d streams failed (%s): stream by stream", len(batch), e)
            for w in batch:
                try:
                    w.events = self.stage.push_each(w.sentences, vocabulary)
                except Exception as own:  # noqa: BLE001
                    w.error = own
            return
        at = 0
        for w in batch:
            w.events = events[at : at + len(w.sentences)]
            at += len(w.sentences)

    def push_draft(
        self,
        sentence: SentenceEvent,
        cancel: Callable[[], bool] | None = None,
        vocabulary: Vocabulary | None = None,
    ) -> list[TranslationEvent] | None:
        turns = self._turns

        def stop() -> bool:
            return bool(turns.waiting) or (cancel is not None and cancel())

        with turns.changed:  # sentences waiting go first
            turns.changed.wait_for(lambda: not turns.busy and not turns.waiting)
            turns.busy = True
        try:
            return self.stage.push_draft(sentence, stop, vocabulary)
        finally:
            with turns.changed:
                turns.busy = False
                turns.changed.notify_all()


class LivePipelineFactory:
    """``PipelineFactory`` over the real pipeline; build it once per server process.

    The translation model loads once, on the first stream with targets; each (source
    language, targets) gets its own stage over it, and all take turns on it."""

    def __init__(self, config: PipelineConfig, models: SpeechModels) -> None:
        self.config = config
        self.models = models
        self._translators: dict[tuple[str | None, tuple[str, ...]], SentenceTranslator | None] = {}
        self._model: Translator | None = None
        self.translation_turns = ModelTurns()  # every stage's turns on the model (/metrics)

    @property
    def decode_slots(self) -> int:
        """Decodes the speech model runs at once, for the admission rule: one a core on
        CPU, each on one thread; one batched call at a time with the scheduler."""
        return 1 if self.models.batching is not None else self.models.whisper.parallel

    def translator(self, source_lang: str | None, targets: tuple[str, ...]) -> SentenceTranslator | None:
        """Build (or reuse) the translation stage; blocking the first time: call it at startup
        for the default streams so an encoder's start does not wait for a model load."""
        key = (source_lang, tuple(targets))
        if key not in self._translators:
            if not targets:
                self._translators[key] = None
            else:
                config = replace(self.config, language=source_lang, targets=tuple(targets))
                if self._model is None:
                    self._model = load_config_translator(config)
                stage = build_translation_stage(config, source_lang, self._model)
                self._translators[key] = SharedTranslator(stage, self.translation_turns) if stage is not None else None
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
