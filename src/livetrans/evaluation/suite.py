"""Running the evaluation: every condition through streaming replay and offline decoding, scored.

Each condition is replayed through the streaming recogniser (``replay``, virtual
clock by default) and transcribed offline (``offline_transcribe``) with the same
loaded model in the same run, so the report shows what streaming costs. Scores use
the one normaliser in ``livetrans.evaluation.metrics``; latencies use
``livetrans.evaluation.latency.word_latencies`` (offline word ends as the moment a
word was said).

Memory: ``peak_rss_mb`` of a condition is the largest resident set seen while its
stream was being recognised (sampled at every push), not the process's lifetime peak.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psutil

from livetrans.evaluation.conditions import (
    SAMPLE_SETS,
    SNRS_DB,
    Clip,
    Condition,
    ConditionKind,
    ConditionLibrary,
    ConditionSpec,
    Placement,
    SampleSet,
    long_spec,
    nonspeech_specs,
    speech_specs,
    synthetic_specs,
)
from livetrans.evaluation.latency import word_latencies
from livetrans.evaluation.metrics import error_rate, uses_cer, word_count
from livetrans.evaluation.replay import offline_transcribe, replay
from livetrans.pipeline import PipelineConfig, SpeechModels
from livetrans.types import SAMPLE_RATE, AudioChunk, CaptionEvent, Event, Word

logger = logging.getLogger(__name__)

ALL_GROUPS: tuple[ConditionKind, ...] = ("clean", "noise", "synthetic", "nonspeech", "long")
WINDOW_SECONDS = 60.0  # the long stream's latency/RSS are reported per window of stream time
PLACEMENT_SLACK = 0.5  # s around an utterance within which recognised words count as its words
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class SuiteOptions:
    model: str = "base"
    seed: int = 0
    groups: tuple[ConditionKind, ...] = ALL_GROUPS
    noises: tuple[str, ...] = ()  # noise types; () means all in samples/noise
    snrs: tuple[float, ...] = SNRS_DB
    clips: tuple[str, ...] = ()  # clip keys or languages; () means all clips
    voices: tuple[str, ...] = ()  # synthetic voice keys; () means all available
    nonspeech_seconds: float = 180.0
    long_minutes: float = 30.0
    long_snr_db: float = 15.0
    clock: Literal["virtual", "real"] = "virtual"
    # Virtual clock only: charge each decode this many seconds instead of its measured wall
    # time, so results do not depend on how busy the machine is (tests); None measures.
    decode_cost: float | None = None
    language_hint: bool = False  # give each clip's language instead of detecting it
    # Which recordings: the tuning set, the held-out set (never tuned on), or both.
    sets: tuple[SampleSet, ...] = SAMPLE_SETS


# The quick run: per set, the shortest clip of three languages, a crowd and a music noise at
# 10 dB, short non-speech, a few minutes of long stream. Minutes of model work on a 2-core CPU.
QUICK_CLIPS_PER_LANG = {"en": 1, "es": 1, "zh": 1}
QUICK = SuiteOptions(
    noises=("crowd", "music", "stadium", "house-music"), snrs=(10.0,),
    voices=("piper-en-US-joe-medium", "espeak-ng-en-029"), nonspeech_seconds=30.0, long_minutes=3.0,
)  # fmt: skip


def quick_options(base: SuiteOptions, library: ConditionLibrary) -> SuiteOptions:
    """``QUICK`` with the shortest clips of its languages in each set, and ``base``'s model, seed and sets."""
    chosen: list[str] = []
    for sample_set in base.sets:
        for lang, count in QUICK_CLIPS_PER_LANG.items():
            clips = [c for c in library.clips if c.lang == lang and c.sample_set == sample_set]
            chosen.extend(c.key for c in sorted(clips, key=lambda c: c.duration)[:count])
    return replace(QUICK, model=base.model, seed=base.seed, clips=tuple(chosen), groups=base.groups, sets=base.sets)


def plan(library: ConditionLibrary, options: SuiteOptions, voices: list[Any] | None = None) -> list[ConditionSpec]:
    """The condition specs ``options`` selects, in a stable order: each set's speech with that set's noise."""
    specs: list[ConditionSpec] = []
    for sample_set in (s for s in SAMPLE_SETS if s in options.sets):
        clips = [
            c for c in library.clips
            if c.sample_set == sample_set and (not options.clips or c.key in options.clips or c.lang in options.clips)
        ]  # fmt: skip
        noises = [
            n for n in library.noise_paths
            if library.noise_set[n] == sample_set and (not options.noises or n in options.noises)
        ]  # fmt: skip
        specs.extend(_set_plan(clips, noises, sample_set, options, voices))
    return specs


def _set_plan(
    clips: list[Clip], noises: list[str], sample_set: SampleSet, options: SuiteOptions, voices: list[Any] | None
) -> list[ConditionSpec]:
    """The conditions of one set (see ``plan``)."""
    specs: list[ConditionSpec] = []
    if "clean" in options.groups or "noise" in options.groups:
        for spec in speech_specs(clips, noises if "noise" in options.groups else [], options.snrs):
            if spec.kind in options.groups:
                specs.append(spec)
    if "synthetic" in options.groups:
        if voices is None:
            from livetrans.evaluation.voices import available_voices

            voices = available_voices()
        chosen = [v for v in voices if not options.voices or v.key in options.voices]
        specs.extend(synthetic_specs(clips, chosen))
    if "nonspeech" in options.groups:
        specs.extend(nonspeech_specs(options.nonspeech_seconds, sample_set))
    if "long" in options.groups:
        specs.append(long_spec(options.long_minutes, options.long_snr_db, sample_set))
    return specs


# ---------------------------------------------------------------- observing memory while streaming


class _ObservedRecognizer:
    """Passes every call through and records (stream time, resident MB) after each push."""

    def __init__(self, inner: Any, samples: list[tuple[float, float]]) -> None:
        self._inner = inner
        self._samples = samples
        self._process = psutil.Process()

    def push(self, chunk: AudioChunk) -> list[Event]:
        out: list[Event] = self._inner.push(chunk)
        self._samples.append((chunk.end, self._process.memory_info().rss / 2**20))
        return out

    def flush(self) -> list[Event]:
        out: list[Event] = self._inner.flush()
        end = self._samples[-1][0] if self._samples else 0.0
        self._samples.append((end, self._process.memory_info().rss / 2**20))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass
class _ObservedModels(SpeechModels):
    rss_samples: list[tuple[float, float]] = field(default_factory=list)

    def recognizer(self, options: Any, vocabulary: Any = None) -> Any:
        return _ObservedRecognizer(super().recognizer(options, vocabulary), self.rss_samples)


# ---------------------------------------------------------------- scoring (pure)


def _final_words(events: tuple[Event, ...]) -> list[Word]:
    return [w for e in events if isinstance(e, CaptionEvent) and e.kind == "final" for w in e.words]


def _text(words: list[Word]) -> str:
    return "".join(w.text for w in words).strip()


def score(
    spec: ConditionSpec,
    duration: float,
    stream_events: tuple[Event, ...],
    stream_text: str,
    stream_lang: str,
    offline_words: tuple[Word, ...],
    offline_text: str,
    offline_lang: str,
) -> dict[str, Any]:
    """One condition's measures as a JSON-ready dict (see docs/eval.md for each field)."""
    speech = spec.kind in ("clean", "noise", "synthetic")  # has one reference transcript
    lang = spec.lang if speech else (stream_lang or offline_lang or "en")
    latency = word_latencies(stream_events, offline_words)
    return {
        "name": spec.name, "set": spec.sample_set, "kind": spec.kind, "lang": spec.lang, "noise": spec.noise or None,
        "snr_db": spec.snr_db, "voice": spec.voice or None, "synthetic": spec.synthetic,
        "duration_s": round(duration, 3), "reference": spec.reference,
        "stream_text": stream_text, "offline_text": offline_text,
        "stream_lang": stream_lang, "offline_lang": offline_lang,
        "metric": ("cer" if uses_cer(lang) else "wer") if speech else ("words" if spec.kind == "nonspeech" else "per-language"),
        "ref_units": word_count(spec.reference, lang) if speech else 0,
        "stream_error": error_rate(spec.reference, stream_text, lang) if speech else None,
        "offline_error": error_rate(spec.reference, offline_text, lang) if speech else None,
        "stream_words": word_count(stream_text, lang) if stream_text else 0,
        "offline_words": word_count(offline_text, lang) if offline_text else 0,
        "final_latencies": [round(v, 3) for v in latency.final],
        "partial_latencies": [round(v, 3) for v in latency.partial],
        "latency_matched": latency.matched, "latency_total": latency.total,
    }  # fmt: skip


def _in_placement(word: Word, placement: Placement) -> bool:
    mid = (word.start + word.end) / 2
    return placement.start - PLACEMENT_SLACK <= mid <= placement.end + PLACEMENT_SLACK


def assign_words(words: list[Word], placements: tuple[Placement, ...]) -> tuple[list[list[Word]], list[Word]]:
    """Words per placement (by midpoint, with slack) and the words that fall in no placement."""
    per: list[list[Word]] = [[] for _ in placements]
    stray: list[Word] = []
    for word in words:
        index = next((i for i, p in enumerate(placements) if _in_placement(word, p)), None)
        (stray if index is None else per[index]).append(word)
    return per, stray


def long_stream_measures(
    condition: Condition,
    events: tuple[Event, ...],
    offline_words: tuple[Word, ...],
    rss_samples: list[tuple[float, float]],
) -> dict[str, Any]:
    """Per-language error over the utterances, words in pauses, and latency/RSS per window."""
    placements = condition.placements
    stream_per, stream_stray = assign_words(_final_words(events), placements)
    offline_per, _ = assign_words(list(offline_words), placements)
    per_language: dict[str, dict[str, Any]] = {}
    for lang in sorted({p.lang for p in placements}):
        items = [i for i, p in enumerate(placements) if p.lang == lang]
        units = [word_count(placements[i].reference, lang) for i in items]
        entry: dict[str, Any] = {"utterances": len(items), "metric": "cer" if uses_cer(lang) else "wer"}
        for mode, per in (("stream", stream_per), ("offline", offline_per)):
            errors = [error_rate(placements[i].reference, _text(per[i]), lang) * n for i, n in zip(items, units)]
            entry[f"{mode}_error"] = sum(errors) / sum(units) if sum(units) else None
        per_language[lang] = entry
    windows = []
    start = 0.0
    while start < condition.duration:
        end = start + WINDOW_SECONDS
        in_window = tuple(w for w in offline_words if start <= w.end < end)
        nearby = tuple(e for e in events if isinstance(e, CaptionEvent) and start - 10 <= e.start < end + 10)
        latency = word_latencies(nearby, in_window)
        rss = [mb for t, mb in rss_samples if start <= t < end]
        summary = latency.summary()
        windows.append({
            "start": start, "end": min(end, condition.duration), "words": latency.matched,
            "final_median_s": summary["final_median"], "final_p95_s": summary["final_p95"],
            "partial_median_s": summary["partial_median"], "rss_mb": max(rss) if rss else None,
        })  # fmt: skip
        start = end
    step = max(1, len(rss_samples) // 600)  # keep the JSON small: at most ~600 points
    return {
        "utterances": len(placements),
        "per_language": per_language,
        "words_in_pauses": len(stream_stray),
        "windows": windows,
        "rss_samples": [(round(t, 2), round(mb, 1)) for t, mb in rss_samples[::step]],
    }


# ---------------------------------------------------------------- running


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    memory_gb = psutil.virtual_memory().total / 2**30
    return f"{cpu}, {psutil.cpu_count()} logical CPUs, {memory_gb:.0f} GB RAM, {platform.system()} {platform.release()}"


def offline_by_utterance(
    condition: Condition, config: PipelineConfig, models: SpeechModels
) -> tuple[tuple[Word, ...], float]:
    """Offline words of a long stream, decoded utterance by utterance (with PLACEMENT_SLACK around each).

    Offline decoding of the whole stream would fix one language for 30 minutes of
    mixed languages; per utterance it detects each one, which is the fair ceiling.
    Word times are shifted back to stream time.
    """
    words: list[Word] = []
    compute = 0.0
    for placement in condition.placements:
        start = max(0.0, placement.start - PLACEMENT_SLACK)
        first = int(start * SAMPLE_RATE)
        last = int((placement.end + PLACEMENT_SLACK) * SAMPLE_RATE)
        offline = offline_transcribe(condition.audio[first:last], config=config, models=models)
        compute += offline.compute_time
        words.extend(replace(w, start=w.start + start, end=w.end + start) for w in offline.words)
    return tuple(words), compute


def run_condition(condition: Condition, models: SpeechModels, options: SuiteOptions) -> dict[str, Any]:
    """Stream and offline-decode one condition with the same models; its measures."""
    spec = condition.spec
    language = spec.lang if options.language_hint and spec.kind in ("clean", "noise", "synthetic") else None
    config = PipelineConfig(model=options.model, language=language)
    observed = _ObservedModels(whisper=models.whisper, vad=models.vad)
    streamed = replay(
        condition.audio, config=config, models=observed, clock=options.clock, decode_cost=options.decode_cost
    )
    if spec.kind == "long":
        offline_words, offline_compute = offline_by_utterance(condition, config, models)
        offline_text, offline_lang = _text(list(offline_words)), ""
    else:
        offline = offline_transcribe(condition.audio, config=config, models=models)
        offline_words, offline_compute = offline.words, offline.compute_time
        offline_text, offline_lang = offline.text, offline.lang
    result = score(
        spec, condition.duration, streamed.events, streamed.text, streamed.lang,
        offline_words, offline_text, offline_lang,
    )  # fmt: skip
    rss = [mb for _, mb in observed.rss_samples]
    result.update(
        rtf=round(streamed.rtf, 4),
        compute_s=round(streamed.compute_time, 3),
        offline_compute_s=round(offline_compute, 3),
        offline_rtf=round(offline_compute / condition.duration, 4) if condition.duration else 0.0,
        peak_rss_mb=round(max(rss) if rss else streamed.peak_rss_mb, 1),
    )
    if spec.kind == "long":
        result.update(long_stream_measures(condition, streamed.events, offline_words, observed.rss_samples))
        result["snr_db"] = spec.snr_db
    return result


def run_suite(
    options: SuiteOptions,
    samples_dir: Path,
    *,
    quick: bool = False,
    models: SpeechModels | None = None,
    progress: Progress | None = None,
    checkpoint: Path | None = None,
) -> dict[str, Any]:
    """Every selected condition, streamed and offline; the report dict (see report.write_report).

    Each result carries its ``set``; ``long`` is the list of long streams (one per set).

    With ``checkpoint``, each condition's result is also appended to that JSON-lines
    file as soon as it is done, so a long run that is stopped still leaves its results.
    """
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    load_at_start = list(psutil.getloadavg())
    library = ConditionLibrary(samples_dir, seed=options.seed, sets=options.sets)
    if quick:
        options = quick_options(options, library)
    specs = plan(library, options)
    if models is None:
        models = SpeechModels.load(PipelineConfig(model=options.model), progress=True)
    conditions: list[dict[str, Any]] = []
    longs: list[dict[str, Any]] = []
    for index, spec in enumerate(specs):
        if progress is not None:
            progress(index, len(specs), spec.name)
        condition = library.render(spec)
        result = run_condition(condition, models, options)
        logger.info(
            "%s: stream %s offline %s (%s), %d stream words, RTF %.2f",
            spec.name, result["stream_error"], result["offline_error"], result["metric"],
            result["stream_words"], result["rtf"],
        )  # fmt: skip
        if checkpoint is not None:
            with checkpoint.open("a", encoding="utf-8") as f:
                f.write(json.dumps(result, ensure_ascii=False) + "\n")
        (longs if spec.kind == "long" else conditions).append(result)
    if progress is not None:
        progress(len(specs), len(specs), "done")
    return {
        "meta": {
            "model": options.model,
            "seed": options.seed,
            "quick": quick,
            "clock": options.clock,
            "options": asdict(options),
            "machine": machine_description(),
            "load_average_start": load_at_start,
            "load_average_end": list(psutil.getloadavg()),
            "started": started_at,
            "wall_s": round(time.perf_counter() - started, 1),
        },
        "conditions": conditions,
        "long": longs,  # one long stream per set that ran it
    }
