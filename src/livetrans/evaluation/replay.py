"""Replaying audio through the streaming path as if it were live, and offline.

Two clocks:

- ``clock="real"``: the audio is released at real time through the asyncio
  :class:`~livetrans.pipeline.LivePipeline`, exactly as a broadcast would be.
- ``clock="virtual"``: the live pipeline's recognition scheduler
  (:class:`~livetrans.scheduling.RecognitionScheduler`), driven synchronously on a
  :class:`~livetrans.scheduling.VirtualClock`. Audio "arrives" by the simulated
  clock, and each model call moves the clock on by the wall time it really took (or
  a fixed cost per decode). What the recogniser sees (how much
  audio is pending at each decode) is what it would see live, so the latencies
  match a real-time run, without waiting through silence. Long streams use it.
  With a translator, the live pipeline's translation scheduler
  (:class:`~livetrans.scheduling.TranslationScheduler`) runs as its worker would,
  beside recognition on a timeline of its own: it notices each recognition event at
  the time it was emitted, takes a job whenever it is free, and a draft stops when a
  sentence ending differently is noticed while it is being translated. The two share
  no CPU here (live, on 2 cores, they do): read its figures as the latency without
  that contention.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from ..asr.offline import transcribe_offline
from ..core.drafts import DraftTracker
from ..core.stabilizer import join_words
from ..mt.stage import TranslationStage
from ..pipeline import (
    EventStamper,
    LivePipeline,
    PipelineConfig,
    SentenceTranslator,
    SpeechModels,
)
from ..scheduling import CostRule, JobResult, RecognitionScheduler, TranslationScheduler, VirtualClock
from ..types import SAMPLE_RATE, AudioChunk, CaptionEvent, Event, Float32Array, Word

Clock = Literal["real", "virtual"]


@dataclass(frozen=True)
class ReplayResult:
    events: tuple[Event, ...]  # as emitted, stamped with seq and emitted_at
    text: str  # the finals joined
    lang: str  # the language of most final words ("" if none)
    duration: float  # audio seconds
    wall_time: float  # seconds the replay took
    compute_time: float  # seconds spent in recognition calls
    rtf: float  # compute_time / duration
    peak_rss_mb: float  # the process's peak resident memory so far


@dataclass(frozen=True)
class OfflineResult:
    words: tuple[Word, ...]
    text: str
    lang: str
    compute_time: float


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def finals_text(events: tuple[Event, ...] | list[Event]) -> str:
    words = [
        w for e in events if isinstance(e, CaptionEvent) and e.kind == "final" for w in e.words
    ]
    return join_words(words)


def _main_language(events: tuple[Event, ...]) -> str:
    counts: dict[str, int] = {}
    for e in events:
        if isinstance(e, CaptionEvent) and e.kind == "final":
            counts[e.lang] = counts.get(e.lang, 0) + len(e.words)
    return max(counts, key=lambda k: counts[k]) if counts else ""


def _chunks(audio: Float32Array, chunk_seconds: float) -> list[AudioChunk]:
    step = int(chunk_seconds * SAMPLE_RATE)
    return [AudioChunk(audio[i : i + step], i / SAMPLE_RATE) for i in range(0, len(audio), step)]


def _replay_virtual(
    audio: Float32Array,
    config: PipelineConfig,
    models: SpeechModels,
    chunk_seconds: float,
    decode_cost: float | None,
    translator: SentenceTranslator | None = None,
    translate_cost: float | None = None,
) -> tuple[list[Event], float]:
    """The live pipeline's recognition scheduling, on a clock that moves by what each
    recogniser call cost (its wall time, or ``decode_cost`` a decode); translation
    beside it (``_translate_virtually``)."""
    recognizer = models.recognizer(config.recognizer_options(), config.load_vocabulary())
    decodes = [recognizer.stats.decodes]  # decodes so far, for the fixed cost

    def cost(measured: float) -> float:
        if decode_cost is None:
            return measured
        done, decodes[0] = recognizer.stats.decodes - decodes[0], recognizer.stats.decodes
        return decode_cost * done

    clock = VirtualClock()  # simulated seconds since the first sample was released
    recognition = RecognitionScheduler(recognizer, clock, cost=cost)
    timed: list[tuple[float, Event]] = []  # (emitted at, event)
    chunks = _chunks(audio, chunk_seconds)
    i = 0
    while i < len(chunks):
        clock.advance_to(chunks[i].end)  # idle until the next chunk has arrived
        while i < len(chunks) and chunks[i].end <= clock.now() + 1e-9:
            recognition.offer(chunks[i])  # every chunk that has arrived by now goes in one push
            i += 1
        batch = recognition.take()
        assert batch is not None
        timed.extend((clock.now(), e) for e in recognition.recognise(batch))
    recognition.audio_ended = True
    timed.extend((clock.now(), e) for e in recognition.finish())
    if translator is not None:
        drafts = DraftTracker(config.recognizer.segmenter) if config.translation_drafts else None
        translation = TranslationScheduler(
            translator, VirtualClock(), drafts=drafts, cost=_per_call(translator, translate_cost)
        )
        timed = sorted(timed + _translate_virtually(timed, translation), key=lambda te: te[0])  # stable
    at = [0.0]
    stamper = EventStamper(0, lambda: at[0])
    events: list[Event] = []
    for at[0], event in timed:
        events.append(stamper.stamp(event))
    return events, recognition.compute_seconds


def _per_call(translator: SentenceTranslator, cost: float | None) -> CostRule | None:
    """``cost`` seconds per model call the stage made (a sentence served from its cache
    makes none), or None: the measured time. Only a :class:`TranslationStage` counts
    its model calls, so only one can be charged per call."""
    if cost is None:
        return None
    if not isinstance(translator, TranslationStage):
        raise TypeError(f"translate_cost charges a TranslationStage's model calls; got {type(translator).__name__}")
    stage = translator
    made = [stage.calls]

    def rule(_measured: float) -> float:
        new, made[0] = stage.calls - made[0], stage.calls
        return cost * new

    return rule


def _translate_virtually(
    timed: list[tuple[float, Event]], translation: TranslationScheduler
) -> list[tuple[float, Event]]:
    """The translation worker of the live pipeline on its own timeline: it notices
    each recognition event (``timed``, in order) once its time has come, runs a job
    whenever it is free (each costs what ``translation`` charges its clock), and
    publishes the job's events when it ends. A draft whose call would still run when
    a sentence ending differently is noticed stops then, as live, and shows nothing."""
    out: list[tuple[float, Event]] = []
    now = 0.0
    i = 0  # the next recognition event to notice

    def notice_until(time_: float) -> None:
        nonlocal i
        while i < len(timed) and timed[i][0] <= time_ + 1e-9:
            translation.notice(timed[i][1])
            i += 1
        if i == len(timed):
            translation.end()  # recognition has finished: no more sentences

    notice_until(now)
    while not translation.done:
        job = translation.next_job()
        if job is None:
            if i == len(timed):
                break  # nothing left to translate
            now = max(now, timed[i][0])  # idle until the next recognition event
            notice_until(now)
            continue
        charged = translation.meter.clock.now()
        result = translation.run(job)
        end = now + translation.meter.clock.now() - charged
        if job.draft is not None:
            while i < len(timed) and timed[i][0] <= end:  # what arrives while the draft runs
                arrived, event = timed[i]
                translation.notice(event)
                i += 1
                if translation.sentence_waiting:  # the draft's call stops here
                    end, result = max(now, arrived), JobResult(job, (), cancelled=True)
                    break
        now = end
        notice_until(now)
        out.extend((now, e) for e in translation.complete(result))
    return out


async def _paced(audio: Float32Array, chunk_seconds: float) -> AsyncIterator[AudioChunk]:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for chunk in _chunks(audio, chunk_seconds):
        delay = t0 + chunk.end - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield chunk


def _replay_real(
    audio: Float32Array,
    config: PipelineConfig,
    models: SpeechModels,
    chunk_seconds: float,
    translator: SentenceTranslator | None,
) -> tuple[list[Event], float]:
    pipeline = LivePipeline(config, models=models, translator=translator)

    async def collect() -> list[Event]:
        return [e async for e in pipeline.run(_paced(audio, chunk_seconds))]

    events = asyncio.run(collect())
    return events, pipeline.compute_seconds


def replay(
    audio: Float32Array,
    *,
    config: PipelineConfig,
    models: SpeechModels,
    clock: Clock = "virtual",
    chunk_seconds: float = 0.1,
    decode_cost: float | None = None,
    translator: SentenceTranslator | None = None,
    translate_cost: float | None = None,
) -> ReplayResult:
    """Stream ``audio`` (16 kHz mono float32) through the recogniser as if live.

    ``decode_cost`` (virtual clock only): charge each decode this many seconds
    instead of its measured time, so that what the recogniser does no longer
    depends on how busy the machine is (tests use it; latency figures don't).
    ``translator``: translate sentences beside recognition, as the live pipeline
    does. ``translate_cost`` (virtual clock only): charge each translator call this
    many seconds instead of its measured time.
    """
    started = time.perf_counter()
    if clock == "virtual":
        events, compute = _replay_virtual(
            audio, config, models, chunk_seconds, decode_cost, translator, translate_cost
        )
    else:
        events, compute = _replay_real(audio, config, models, chunk_seconds, translator)
    duration = len(audio) / SAMPLE_RATE
    stamped = tuple(events)
    return ReplayResult(
        events=stamped,
        text=finals_text(stamped),
        lang=_main_language(stamped),
        duration=duration,
        wall_time=time.perf_counter() - started,
        compute_time=compute,
        rtf=compute / duration if duration else 0.0,
        peak_rss_mb=peak_rss_mb(),
    )


def offline_transcribe(
    audio: Float32Array, *, config: PipelineConfig, models: SpeechModels
) -> OfflineResult:
    """The same model, offline: VAD + batched decoding (the quality ceiling)."""
    started = time.perf_counter()
    transcript = transcribe_offline(
        models.whisper,
        audio,
        language=config.language,
        vocabulary=config.load_vocabulary(),
        guards=config.recognizer.guards,
    )
    return OfflineResult(
        words=transcript.words,
        text=join_words(transcript.words),
        lang=transcript.language,
        compute_time=time.perf_counter() - started,
    )
