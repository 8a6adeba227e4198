"""Whisper through faster-whisper / CTranslate2: the only faster_whisper import.

Two ways in:

- :meth:`WhisperEngine.decode` decodes one short audio window for the streaming
  recogniser. It calls the CTranslate2 model directly so that the encoder input can
  be 20 s instead of Whisper's 30 s (CTranslate2 accepts shorter inputs; base int8
  encodes 20 s about four times faster than 30 s here, with the same text on our
  clips — measured, see docs/benchmarks.md), forces the already committed words as
  a decoder prefix, and aligns words to audio with cross-attention.
- :meth:`WhisperEngine.transcribe_offline` is the fastest whole-file path: Silero VAD
  cuts speech into windows that are decoded in batches, each window's language
  detected on its own.
"""

from __future__ import annotations

import functools
import logging
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..core.decoding import PROMPT_VOCABULARY_TOKENS, Hypothesis
from ..core.guards import (
    OFFLINE_FILTERS,
    Candidate,
    GuardOptions,
    apply_guards,
    is_loop,
)
from ..core.vocabulary import Vocabulary
from ..errors import LanguageError, ModelError
from ..types import SAMPLE_RATE, Float32Array, Word

log = logging.getLogger(__name__)

Task = Literal["transcribe", "translate"]
Device = Literal["cpu", "cuda"]
ChineseScript = Literal["simplified", "traditional", "as-is"]
_OPENCC_CONFIGS = {"simplified": "t2s", "traditional": "s2t"}

# Encoder input lengths we pad a window to. Shorter than 20 s made the decoder stop
# early on short clips ("The Bir" for a 3 s sentence at 10 s); 20 s did not.
_BUCKETS_S = (20, 30)
_HOP_SAMPLES = 160  # Whisper's mel hop: 100 frames a second
_MAX_TOKENS_PER_S = 12  # a generous ceiling on speech rate; stops runaway loops early

# faster-whisper's defaults: punctuation that joins the following / preceding word.
_PREPEND_PUNCTUATION = "\"'“¿([{-"
_APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"

# Prompts that nudge Whisper towards the script viewers of that language expect.
_LANGUAGE_PROMPTS = {"zh": "以下是普通话的句子。"}


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


def compression_ratio(text: str) -> float:
    """gzip ratio of the text: high for repetitive loops (Whisper's own heuristic)."""
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data))


def mean_logprob(result: Any, generated: int) -> float:
    """Whisper's average log-probability of a decode: over the generated tokens and
    the end token. CTranslate2 scores a sequence by its summed log-probability (the
    forced prefix not included) divided by the whole sequence's length (its default
    length penalty of 1), so the sum is taken back first."""
    total = float(result.scores[0]) * len(result.sequences_ids[0])
    return total / (max(0, generated) + 1)


def compute_type_for(device: Device) -> str:
    return "float16" if device == "cuda" else "int8"


class WhisperEngine:
    """A loaded Whisper model, shared by every stream; safe to call from worker threads."""

    def __init__(
        self,
        model_path: Path,
        *,
        device: Device = "cpu",
        cpu_threads: int = 0,
        task: Task = "transcribe",
        chinese_script: ChineseScript = "simplified",
    ) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as e:  # pragma: no cover - a broken install
            raise ModelError("faster-whisper is not installed: pip install faster-whisper") from e
        try:
            self._model = WhisperModel(
                str(model_path),
                device=device,
                compute_type=compute_type_for(device),
                cpu_threads=cpu_threads,
            )
            # The decoder's steps are matrix-vector products too small to share
            # between cores: on CPU a second copy of the model runs them on one
            # thread (greedy and beam 3 alike faster than on two, docs/benchmarks.md),
            # while the encoder, one large product per window, uses them all.
            self._stepper = self._model
            if device == "cpu" and cpu_threads != 1:
                self._stepper = WhisperModel(
                    str(model_path), device=device, compute_type=compute_type_for(device), cpu_threads=1
                )
        except (RuntimeError, ValueError, OSError) as e:
            raise ModelError(f"cannot load the Whisper model in {model_path}: {e}") from e
        self.device = device
        self.task = task
        self.model_path = model_path
        self.multilingual = bool(self._model.model.is_multilingual)
        # Whisper writes Mandarin in either script, even within one sentence.
        self._to_script: Callable[[str], str] | None = None
        if chinese_script in _OPENCC_CONFIGS:
            import opencc

            self._to_script = opencc.OpenCC(_OPENCC_CONFIGS[chinese_script]).convert
        # One decode at a time per model: CTranslate2 would queue them anyway, and
        # serialising keeps per-call timings honest.
        self._lock = threading.Lock()

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(self._model.supported_languages)

    def check_language(self, language: str | None) -> None:
        """Refuse, before any audio, a language this model cannot recognise."""
        if language is None:
            return
        if language not in self.languages:
            raise LanguageError(
                f"the speech model cannot recognise language {language!r}; "
                f"use one of: {', '.join(sorted(self.languages))} (or auto)"
            )

    @functools.lru_cache(maxsize=64)
    def _tokenizer(self, language: str) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        return Tokenizer(
            self._model.hf_tokenizer, self.multilingual, task=self.task, language=language
        )

    def _encode(self, audio: Float32Array) -> tuple[Any, int]:
        """Encoder output for the smallest bucket that holds ``audio``, and its frames."""
        bucket_samples = next(
            (b * SAMPLE_RATE for b in _BUCKETS_S if len(audio) <= b * SAMPLE_RATE),
            _BUCKETS_S[-1] * SAMPLE_RATE,
        )
        features = self._features(audio, bucket_samples)
        return self._model.encode(features), min(len(audio), bucket_samples) // _HOP_SAMPLES

    def _detect(self, encoder_output: Any) -> list[tuple[str, float]]:
        """The most likely languages, best first."""
        if not self.multilingual:
            return [("en", 1.0)]
        ranked = self._stepper.model.detect_language(encoder_output)[0][:5]
        return [(str(token)[2:-2], float(p)) for token, p in ranked]

    def decode(
        self,
        audio: Float32Array,
        *,
        prompt: str = "",
        prefix: str = "",
        language: str | None = None,
        beam_size: int = 1,
    ) -> Hypothesis:
        """Decode one window (at most 30 s) with ``prefix`` forced as its first words."""
        with self._lock:
            encoder_output, num_frames = self._encode(audio)
            ranked = self._detect(encoder_output) if language is None else [(language, 1.0)]
            language, language_probability = ranked[0]
            tokenizer = self._tokenizer(language)
            if not prompt and self.task == "transcribe":
                prompt = _LANGUAGE_PROMPTS.get(language, "")
            previous = tokenizer.encode(" " + prompt.strip()) if prompt.strip() else []
            prompt_tokens = self._model.get_prompt(
                tokenizer, previous, without_timestamps=True, prefix=prefix.strip() or None
            )
            prefix_len = len(tokenizer.encode(" " + prefix.strip())) if prefix.strip() else 0
            duration = len(audio) / SAMPLE_RATE
            max_new = int(_MAX_TOKENS_PER_S * duration) + 8
            result = self._stepper.model.generate(
                encoder_output,
                [prompt_tokens],
                beam_size=beam_size,
                max_length=min(448, len(prompt_tokens) + max_new),
                return_scores=True,
                return_no_speech_prob=True,
                suppress_blank=not prefix.strip(),
                suppress_tokens=[-1],
            )[0]
            tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
            avg_logprob = mean_logprob(result, len(tokens) - prefix_len)
            text = tokenizer.decode(tokens)
            aligned = self._stepper.find_alignment(tokenizer, [tokens], encoder_output, num_frames)
        words = self._script(_words(aligned[0] if aligned else []), language)
        split = _prefix_word_count(words, prefix)
        return Hypothesis(
            prefix_words=tuple(words[:split]),
            words=tuple(words[split:]),
            language=language,
            language_probability=language_probability,
            language_probabilities=tuple(ranked),
            no_speech_probability=float(result.no_speech_prob),
            avg_logprob=avg_logprob,
            compression_ratio=compression_ratio(text),
        )

    def transcribe_offline(
        self,
        audio: Float32Array,
        *,
        language: str | None = None,
        batch_size: int = 8,
        beam_size: int = 5,
        progress: Callable[[float], None] | None = None,
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
            with self._lock:
                decoded = self._decode_batch(chunks, language, beam_size, vocabulary, guards, options)
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
        self,
        windows: list[Float32Array],
        language: str | None,
        beam_size: int,
        vocabulary: Vocabulary,
        guards: GuardOptions,
        options: OfflineOptions,
    ) -> list[tuple[list[Word], str]]:
        bucket_samples = int(options.bucket * SAMPLE_RATE)
        features = np.stack([self._features(w, bucket_samples) for w in windows])
        encoder_output = self._model.encode(features)
        if language is not None or not self.multilingual:
            languages = [language or "en"] * len(windows)
        else:
            languages = [str(r[0][0])[2:-2] for r in self._model.model.detect_language(encoder_output)]
        out: list[tuple[list[Word], str]] = [([], lang) for lang in languages]
        for lang in dict.fromkeys(languages):
            index = [i for i, l in enumerate(languages) if l == lang]
            group_output = encoder_output if len(index) == len(windows) else self._model.encode(features[index])
            group = [windows[i] for i in index]
            decoded = self._generate_group(group_output, group, lang, beam_size, vocabulary, guards, options)
            for i, window_words in zip(index, decoded):
                out[i] = (window_words, lang)
        return out

    def _script(self, words: list[Word], language: str) -> list[Word]:
        """Mandarin words in the script viewers asked for (word by word: OpenCC maps
        character for character here, so word times stay where they were)."""
        convert = self._to_script
        if convert is None or language != "zh" or self.task != "transcribe":
            return words
        return [Word(w.start, w.end, convert(w.text), w.probability) for w in words]

    def _features(self, window: Float32Array, samples: int = _BUCKETS_S[0] * SAMPLE_RATE) -> Any:
        """Log-mel features of ``window`` cut or padded to ``samples``. The waveform (not
        the features) is padded with silence, as Whisper was trained."""
        padded = np.pad(window[:samples], (0, max(0, samples - len(window))))
        return self._model.feature_extractor(padded, padding=0)[:, : samples // _HOP_SAMPLES]

    def _generate_group(
        self,
        encoder_output: Any,
        windows: list[Float32Array],
        language: str,
        beam_size: int,
        vocabulary: Vocabulary,
        guards: GuardOptions,
        options: OfflineOptions,
    ) -> list[list[Word]]:
        tokenizer = self._tokenizer(language)
        prompt = _LANGUAGE_PROMPTS.get(language, "") if self.task == "transcribe" else ""
        prompt = f"{prompt} {vocabulary.prompt(language, PROMPT_VOCABULARY_TOKENS)}".strip()
        previous = tokenizer.encode(" " + prompt) if prompt else []
        prompt_tokens = self._model.get_prompt(tokenizer, previous, without_timestamps=True)
        results = self._model.model.generate(
            encoder_output,
            [prompt_tokens] * len(windows),
            beam_size=beam_size,
            max_length=min(448, len(prompt_tokens) + int(_MAX_TOKENS_PER_S * options.bucket) + 8),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )
        token_lists: list[list[int]] = []
        scores: list[tuple[float, float, float]] = []  # (no-speech probability, average log-probability, compression ratio)
        for result in results:
            tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
            avg_logprob = mean_logprob(result, len(tokens))
            ratio = compression_ratio(tokenizer.decode(tokens))
            # What the loop guard drops is not worth aligning.
            token_lists.append([] if is_loop(ratio, guards) else tokens)
            scores.append((float(result.no_speech_prob), avg_logprob, ratio))
        keep = [i for i, t in enumerate(token_lists) if t]
        words: list[list[Word]] = [[] for _ in windows]
        if not keep:
            return words
        frames = [len(windows[i]) // _HOP_SAMPLES for i in keep]
        if len(keep) != len(windows):
            bucket_samples = int(options.bucket * SAMPLE_RATE)
            encoder_output = self._model.encode(np.stack([self._features(windows[i], bucket_samples) for i in keep]))
        aligned = self._model.find_alignment(tokenizer, [token_lists[i] for i in keep], encoder_output, frames)
        for i, alignment in zip(keep, aligned):
            duration = len(windows[i]) / SAMPLE_RATE
            found = [w for w in self._script(_words(alignment), language) if w.start < duration]
            no_speech, avg_logprob, ratio = scores[i]
            # The streaming path's guards, where they apply offline.
            candidate = Candidate(tuple(found), no_speech, avg_logprob, ratio, duration, language, vocabulary=vocabulary)
            kept = apply_guards(candidate, guards, OFFLINE_FILTERS)
            words[i] = vocabulary.respell(kept, language)
        return words


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


def _words(alignment: list[dict[str, Any]]) -> list[Word]:
    """Aligned words with punctuation joined to its word, as faster-whisper does."""
    from faster_whisper.transcribe import merge_punctuations

    merge_punctuations(alignment, _PREPEND_PUNCTUATION, _APPEND_PUNCTUATION)
    return [_word(w) for w in alignment if w["word"]]


def _word(aligned: dict[str, Any]) -> Word:
    return Word(
        start=round(float(aligned["start"]), 3),
        end=round(float(aligned["end"]), 3),
        text=str(aligned["word"]),
        probability=float(aligned.get("probability", 1.0)),
    )


def _prefix_word_count(words: list[Word], prefix: str) -> int:
    """How many leading aligned words spell the forced prefix."""
    target = "".join(prefix.split())
    if not target:
        return 0
    spelled = ""
    for i, word in enumerate(words):
        if len(spelled) >= len(target):
            return i
        spelled += "".join(word.text.split())
    return len(words)
