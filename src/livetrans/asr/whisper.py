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
import os
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..core.decoding import Hypothesis
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
# The most tokens a decode may write per second of its window, plus 8: above the
# fastest speech in samples/ (6.3 a second, English; Mandarin about 4) and Whisper's own
# ceiling (224 tokens for 30 s, 7.5 a second); it stops runaway loops early.
_MAX_TOKENS_PER_S = 10
_MAX_POSITIONS = 448  # Whisper's decoder context: prompt and output together


def max_length_for(prompt_tokens: int, new_tokens: int) -> int:
    """CTranslate2's ``max_length`` for a decode that may write ``new_tokens`` after
    ``prompt_tokens`` (the prefix included). Its Whisper writes at most
    ``new_tokens_allowed`` (Whisper's rule: at most half the context is output), so
    prompt + new alone would give a short prompt half the ceiling meant: a 19 s window
    stopped at 6.6 tokens a second, which fast speech reaches. At most the decoder's
    448 positions."""
    return min(_MAX_POSITIONS, max(2 * new_tokens, prompt_tokens + new_tokens - 1))


def new_tokens_allowed(prompt_tokens: int, max_length: int) -> int:
    """How many tokens CTranslate2's Whisper writes at most after ``prompt_tokens``
    when given ``max_length`` (measured with CTranslate2 4.8.5, tests/test_decode_length.py)."""
    return min(max_length // 2, max_length - prompt_tokens + 1)


# faster-whisper's defaults: punctuation that joins the following / preceding word.
_PREPEND_PUNCTUATION = "\"'“¿([{-"
_APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"

# Prompts that nudge Whisper towards the script viewers of that language expect.
_LANGUAGE_PROMPTS = {"zh": "以下是普通话的句子。"}


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
            # Streams' decodes run at once, up to one a core, each on one thread
            # (``parallel``): a core each does more decodes a second than every core
            # on one decode at a time (docs/benchmarks.md). A decode running alone
            # still encodes on every core.
            self._stepper = self._model
            self.parallel = 1
            if device == "cpu" and cpu_threads != 1:
                self.parallel = cpu_threads or os.cpu_count() or 1
                self._stepper = WhisperModel(
                    str(model_path), device=device, compute_type=compute_type_for(device), cpu_threads=1,
                    num_workers=self.parallel,
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
        # The offline and batched paths: one call at a time, on every core.
        self._lock = threading.Lock()
        # Streaming decodes: ``parallel`` at once.
        self._slots = threading.BoundedSemaphore(self.parallel)
        self._running_lock = threading.Lock()
        self._running = 0
        self.most_running = 0  # the most streaming decodes seen running at once

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(self._model.supported_languages)

    @functools.cached_property
    def everyday_words(self) -> frozenset[str]:
        """The words this model writes as one token of their own (compact spellings:
        "kills", "road", "precio"), its everyday words in every language it was
        trained on; a name it does not know it writes in pieces. Respelling reads
        them (``Vocabulary.respell``)."""
        from ..core.respelling import compact

        tokenizer = self._model.hf_tokenizer
        ids = [i for token, i in tokenizer.get_vocab().items() if token.startswith("Ġ")]  # a leading space
        texts = tokenizer.decode_batch([[i] for i in ids])
        return frozenset(compact(t) for t in texts if t.startswith(" ") and t[1:].isalpha())

    def check_language(self, language: str | None) -> None:
        """Refuse, before any audio, a language this model cannot recognise."""
        if language is None:
            return
        if language not in self.languages:
            raise LanguageError(
                f"the speech model cannot recognise language {language!r}; "
                f"use one of: {', '.join(sorted(self.languages))} (or auto)"
            )

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one engine per process, kept for its life
    def _tokenizer(self, language: str) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        return Tokenizer(
            self._model.hf_tokenizer, self.multilingual, task=self.task, language=language
        )

    def _encode(self, audio: Float32Array, model: Any = None) -> tuple[Any, int]:
        """Encoder output for the smallest bucket that holds ``audio``, and its frames."""
        bucket_samples = next(
            (b * SAMPLE_RATE for b in _BUCKETS_S if len(audio) <= b * SAMPLE_RATE),
            _BUCKETS_S[-1] * SAMPLE_RATE,
        )
        features = self._features(audio, bucket_samples)
        return (model or self._model).encode(features), min(len(audio), bucket_samples) // _HOP_SAMPLES

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
        """Decode one window (at most 30 s) with ``prefix`` forced as its first words.
        Safe to call from several threads: up to ``parallel`` decodes run at once."""
        with self._slots:
            with self._running_lock:
                self._running += 1
                alone = self._running == 1
                self.most_running = max(self.most_running, self._running)
            try:
                return self._decode(audio, prompt, prefix, language, beam_size, alone=alone)
            finally:
                with self._running_lock:
                    self._running -= 1

    def _decode(
        self, audio: Float32Array, prompt: str, prefix: str, language: str | None, beam_size: int, *, alone: bool
    ) -> Hypothesis:
        encoder_output, num_frames = self._encode(audio, self._model if alone else self._stepper)
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
            max_length=max_length_for(len(prompt_tokens), max_new),
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
