"""Whole-file transcription: the fastest offline path.

Silero VAD cuts the file into stretches of speech, joined into windows that fit the
encoder input (:func:`speech_spans`); the windows are decoded in batches with beam
search, each window's language detected on its own (a close call between two
languages decoded in both, :func:`contested`), and the streaming path's
hallucination guards (core/guards.py) decide which decodes are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.decoding import PROMPT_VOCABULARY_TOKENS
from ..core.guards import OFFLINE_FILTERS, Candidate, GuardOptions, apply_guards, is_loop
from ..core.language import LanguageDecode, rival_wins
from ..core.vocabulary import Vocabulary
from ..types import SAMPLE_RATE, Float32Array, Word
from .whisper import (
    _HOP_SAMPLES,
    _LANGUAGE_PROMPTS,
    _MAX_TOKENS_PER_S,
    WhisperEngine,
    _words,
    compression_ratio,
    max_length_for,
    mean_logprob,
)


@dataclass(frozen=True)
class OfflineOptions:
    """How the offline path cuts a file into windows and which decodes it keeps."""

    # Silero VAD: a pause shorter than this does not end a stretch of speech (ms).
    min_silence_ms: int = 500
    speech_pad_ms: int = 200  # audio kept either side of what the VAD heard as speech (ms)
    max_window: float = 19.0  # seconds: the longest window, joined stretches included
    # Stretches of speech closer than this (seconds) are joined into one window; after
    # a longer pause the speaker may have switched language, detected per window.
    max_join_gap: float = 1.0
    bucket: float = 20.0  # seconds: the encoder input every window is padded to
    # A window whose detected runner-up language has at least this share of the top
    # one's probability is a close call (an accented speaker, a short window in noise):
    # it is decoded in both and the likelier decode the guards keep wins
    # (``contested``). None: always the top detection.
    contest_ratio: float | None = 0.5


@dataclass(frozen=True)
class OfflineWindow:
    """One stretch of speech decoded on its own, in its own language."""

    language: str
    words: tuple[Word, ...]  # stream times


@dataclass(frozen=True)
class OfflineTranscript:
    windows: tuple[OfflineWindow, ...]
    language: str  # the language of most words
    language_probability: float  # the share of words in that language
    duration: float

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for window in self.windows for w in window.words)


def transcribe_offline(
    engine: WhisperEngine,
    audio: Float32Array,
    *,
    language: str | None = None,
    batch_size: int = 8,
    beam_size: int = 5,
    progress: Callable[[float], object] | None = None,
    vocabulary: Vocabulary | None = None,
    guards: GuardOptions | None = None,
    options: OfflineOptions = OfflineOptions(),
) -> OfflineTranscript:
    """Whole-file transcription: Silero VAD cuts speech into windows of at most
    ~19 s (``options``), decoded ``batch_size`` at a time with beam search. With no fixed
    language each window's language is detected on its own, so a file where
    the speaker switches language is captioned in both.

    ``progress`` is called with the audio seconds done so far. ``vocabulary``:
    its terms go in each window's prompt, and near misses are written as the terms.
    ``guards``: the hallucination guards' thresholds, as the streaming path's.
    """
    vocabulary = vocabulary or Vocabulary()
    guards = guards or GuardOptions()
    spans = speech_spans(audio, options)
    windows: list[OfflineWindow] = []
    languages: dict[str, float] = {}
    for first in range(0, len(spans), batch_size):
        batch = spans[first : first + batch_size]
        chunks = [audio[start:end] for start, end in batch]
        with engine._lock:
            decoded = _decode_batch(engine, chunks, language, beam_size, vocabulary, guards, options)
        for (start, _), (window_words, window_language) in zip(batch, decoded):
            offset = start / SAMPLE_RATE
            shifted = tuple(
                Word(round(w.start + offset, 3), round(w.end + offset, 3), w.text, w.probability)
                for w in window_words
            )
            if shifted:
                windows.append(OfflineWindow(window_language, shifted))
            languages[window_language] = languages.get(window_language, 0.0) + len(window_words)
        if progress is not None:
            progress(batch[-1][1] / SAMPLE_RATE)
    main = max(languages, key=lambda k: languages[k]) if languages else (language or "en")
    total = sum(languages.values()) or 1.0
    return OfflineTranscript(
        windows=tuple(windows),
        language=main,
        language_probability=languages.get(main, 0.0) / total,
        duration=len(audio) / SAMPLE_RATE,
    )


def _decode_batch(
    engine: WhisperEngine,
    windows: list[Float32Array],
    language: str | None,
    beam_size: int,
    vocabulary: Vocabulary,
    guards: GuardOptions,
    options: OfflineOptions,
) -> list[tuple[list[Word], str]]:
    bucket_samples = int(options.bucket * SAMPLE_RATE)
    features = np.stack([engine._features(w, bucket_samples) for w in windows])
    encoder_output = engine._model.encode(features)
    if language is not None or not engine.multilingual:
        candidates = [[language or "en"] for _ in windows]
    else:
        candidates = [contested(ranked, options) for ranked in detect_languages(engine, encoder_output)]
    # Each window's decode in each of its candidate languages, a batch per language.
    decodes: list[dict[str, _Decode]] = [{} for _ in windows]
    for lang in dict.fromkeys(code for codes in candidates for code in codes):
        index = [i for i, codes in enumerate(candidates) if lang in codes]
        group_output = encoder_output if len(index) == len(windows) else engine._model.encode(features[index])
        group = [windows[i] for i in index]
        decoded = _generate_group(engine, group_output, group, lang, beam_size, vocabulary, guards, options)
        for i, decode in zip(index, decoded):
            decodes[i][lang] = decode
    out = []
    for codes, by_language in zip(candidates, decodes):
        best = codes[0]
        if len(codes) > 1 and rival_wins(by_language[best].weighed, by_language[codes[1]].weighed):
            best = codes[1]
        out.append((by_language[best].words, best))
    return out


def detect_languages(engine: WhisperEngine, encoder_output: Any) -> list[list[tuple[str, float]]]:
    """Each window's two most likely languages with their probabilities, best first."""
    detected = engine._model.model.detect_language(encoder_output)
    return [[(str(token)[2:-2], float(p)) for token, p in ranked[:2]] for ranked in detected]


def contested(ranked: list[tuple[str, float]], options: OfflineOptions) -> list[str]:
    """The languages to decode a window in, from its detection (best first): the top
    one, and the runner-up too when it is a close call (``options.contest_ratio``).
    Which decode wins is the streaming path's rule, ``core.language.rival_wins``."""
    top = [ranked[0][0]]
    ratio = options.contest_ratio
    if ratio is not None and len(ranked) > 1 and ranked[1][1] >= ratio * ranked[0][1]:
        top.append(ranked[1][0])
    return top


@dataclass(frozen=True)
class _Decode:
    words: list[Word]  # what the guards kept
    avg_logprob: float
    looped: bool = False  # dropped by the loop guard before alignment

    @property
    def weighed(self) -> LanguageDecode:
        return LanguageDecode(bool(self.words), self.looped, self.avg_logprob)


def _generate_group(
    engine: WhisperEngine,
    encoder_output: Any,
    windows: list[Float32Array],
    language: str,
    beam_size: int,
    vocabulary: Vocabulary,
    guards: GuardOptions,
    options: OfflineOptions,
) -> list[_Decode]:
    tokenizer = engine._tokenizer(language)
    prompt = _LANGUAGE_PROMPTS.get(language, "") if engine.task == "transcribe" else ""
    prompt = f"{prompt} {vocabulary.prompt(language, PROMPT_VOCABULARY_TOKENS)}".strip()
    previous = tokenizer.encode(" " + prompt) if prompt else []
    prompt_tokens = engine._model.get_prompt(tokenizer, previous, without_timestamps=True)
    results = engine._model.model.generate(
        encoder_output,
        [prompt_tokens] * len(windows),
        beam_size=beam_size,
        max_length=max_length_for(len(prompt_tokens), int(_MAX_TOKENS_PER_S * options.bucket) + 8),
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=[-1],
    )
    token_lists: list[list[int]] = []
    loops: list[bool] = []
    scores: list[tuple[float, float, float]] = []  # (no-speech probability, average log-probability, compression ratio)
    for result in results:
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        avg_logprob = mean_logprob(result, len(tokens))
        ratio = compression_ratio(tokenizer.decode(tokens))
        # What the loop guard drops is not worth aligning.
        loops.append(is_loop(ratio, guards))
        token_lists.append([] if loops[-1] else tokens)
        scores.append((float(result.no_speech_prob), avg_logprob, ratio))
    decodes = [_Decode([], score[1], looped) for score, looped in zip(scores, loops)]
    keep = [i for i, t in enumerate(token_lists) if t]
    if not keep:
        return decodes
    frames = [len(windows[i]) // _HOP_SAMPLES for i in keep]
    if len(keep) != len(windows):
        bucket_samples = int(options.bucket * SAMPLE_RATE)
        encoder_output = engine._model.encode(np.stack([engine._features(windows[i], bucket_samples) for i in keep]))
    aligned = engine._model.find_alignment(tokenizer, [token_lists[i] for i in keep], encoder_output, frames)
    for i, alignment in zip(keep, aligned):
        duration = len(windows[i]) / SAMPLE_RATE
        found = [w for w in engine._script(_words(alignment), language) if w.start < duration]
        no_speech, avg_logprob, ratio = scores[i]
        # The streaming path's guards, where they apply offline.
        candidate = Candidate(tuple(found), no_speech, avg_logprob, ratio, duration, language, vocabulary=vocabulary)
        kept = apply_guards(candidate, guards, OFFLINE_FILTERS)
        decodes[i] = _Decode(vocabulary.respell(kept, language, engine.everyday_words), avg_logprob)
    return decodes


def speech_spans(audio: Float32Array, options: OfflineOptions = OfflineOptions()) -> list[tuple[int, int]]:
    """Sample ranges of speech (Silero VAD), joined into windows of at most
    ``options.max_window`` seconds (they fit the encoder input). Speech separated by
    a pause longer than ``options.max_join_gap`` stays apart: after a pause the
    speaker may have switched language, and each window's language is detected on
    its own."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    vad = VadOptions(
        min_silence_duration_ms=options.min_silence_ms,
        speech_pad_ms=options.speech_pad_ms,
        max_speech_duration_s=options.max_window,
    )
    limit = int(options.max_window * SAMPLE_RATE)
    spans: list[tuple[int, int]] = []
    for segment in get_speech_timestamps(audio, vad):
        start, end = int(segment["start"]), int(segment["end"])
        joinable = spans and start - spans[-1][1] <= options.max_join_gap * SAMPLE_RATE
        if joinable and end - spans[-1][0] <= limit:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, min(end, start + limit)))
    return spans
