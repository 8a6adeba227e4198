"""Many streams' decode requests in one call to the Whisper model.

:func:`decode_batch` answers a list of :class:`DecodeRequest`s as
:meth:`WhisperEngine.decode` answers each alone (the same words; probabilities equal
to float tolerance), with fewer model calls: windows of one encoder bucket are
encoded together, languages are detected from that batched output, and one
``generate`` per group of requests that must share settings, one alignment per language.
Each request keeps its own prompt and forced prefix.

What a group shares, and why:

- the encoder bucket: the encoder output is one tensor;
- the beam size and ``suppress_blank`` (off when a prefix is forced): one value per
  ``generate`` call (each prompt carries its own language token, so languages share one);
- for ``generate``, the length of the previous text in the prompt: CTranslate2 needs
  ``<|startoftranscript|>`` at the same position in every prompt of a call (the
  forced prefixes after it may differ in length);
- the language, for the alignment: its start-of-transcript tokens come from the tokenizer.

``generate`` takes one token ceiling per call: a group runs to the largest of its
requests' ceilings and each request's tokens are cut at its own. The ceiling only
stops runaway loops early, and the loop guard drops those whatever their length.

Uses the engine's loaded models and helpers (the engine's module is the only
faster_whisper import; this one imports ctranslate2's tensor type for the encoder
output only).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.decoding import DecodeRequest, Hypothesis
from ..types import SAMPLE_RATE
from .whisper import (
    _BUCKETS_S,
    _HOP_SAMPLES,
    _LANGUAGE_PROMPTS,
    _MAX_TOKENS_PER_S,
    WhisperEngine,
    _prefix_word_count,
    _words,
    compression_ratio,
    max_length_for,
    mean_logprob,
    new_tokens_allowed,
)

log = logging.getLogger(__name__)


@dataclass
class _Prepared:
    """One request on its way through the batch."""

    request: DecodeRequest
    bucket_samples: int
    ranked: list[tuple[str, float]]  # languages, best first ([(given, 1.0)] when given)
    prompt_tokens: list[int]
    prefix_tokens: int  # how many of the generated tokens are the forced prefix
    max_length: int  # this request's token ceiling, prompt included
    sot_index: int  # where <|startoftranscript|> is in the prompt (after the previous text)


def bucket_samples(seconds_samples: int) -> int:
    """The encoder input length (samples) a window of this many samples is padded to."""
    return next(
        (b * SAMPLE_RATE for b in _BUCKETS_S if seconds_samples <= b * SAMPLE_RATE),
        _BUCKETS_S[-1] * SAMPLE_RATE,
    )


def decode_batch(engine: WhisperEngine, requests: Sequence[DecodeRequest]) -> list[Hypothesis]:
    """One hypothesis per request, in order, as ``engine.decode`` gives one by one."""
    if not requests:
        return []
    out: list[Hypothesis | None] = [None] * len(requests)
    with engine._lock:
        for size in dict.fromkeys(bucket_samples(len(r.audio)) for r in requests):
            index = [i for i, r in enumerate(requests) if bucket_samples(len(r.audio)) == size]
            for i, hypothesis in zip(index, _decode_bucket(engine, [requests[i] for i in index], size)):
                out[i] = hypothesis
    return [h for h in out if h is not None]


def _decode_bucket(engine: WhisperEngine, requests: list[DecodeRequest], size: int) -> list[Hypothesis]:
    """Requests whose windows share the encoder bucket of ``size`` samples."""
    features = np.stack([engine._features(r.audio, size) for r in requests])
    encoded = _EncoderOutput(engine._model.encode(features), len(requests))
    undetected = [i for i, r in enumerate(requests) if r.language is None]
    detected: dict[int, list[tuple[str, float]]] = {}
    if undetected:
        detected = dict(zip(undetected, _detect(engine, encoded.rows(undetected))))
    prepared = [
        _prepare(engine, r, size, detected.get(i) or [(r.language or "en", 1.0)])
        for i, r in enumerate(requests)
    ]
    # generate: one call per (beam size, suppress_blank, prompt length before the
    # start-of-transcript token); each prompt carries its own language token, so
    # languages share a call.
    generated: list[tuple[Any, list[int]]] = [(None, [])] * len(requests)
    groups: dict[tuple[int, bool, int], list[int]] = {}
    for i, p in enumerate(prepared):
        key = (p.request.beam_size, not p.request.prefix.strip(), p.sot_index)
        groups.setdefault(key, []).append(i)
    for (beam_size, suppress_blank, _), index in groups.items():
        results = _generate(engine, encoded.rows(index), [prepared[i] for i in index], beam_size, suppress_blank)
        for i, result in zip(index, results):
            generated[i] = result
    # alignment: one call per language (its start-of-transcript tokens come from the tokenizer).
    out: list[Hypothesis | None] = [None] * len(requests)
    languages: dict[str, list[int]] = {}
    for i, p in enumerate(prepared):
        languages.setdefault(p.ranked[0][0], []).append(i)
    for language, index in languages.items():
        group = [prepared[i] for i in index]
        hypotheses = _align(engine, encoded.rows(index), group, [generated[i] for i in index], language)
        for i, hypothesis in zip(index, hypotheses):
            out[i] = hypothesis
    return [h for h in out if h is not None]


class _EncoderOutput:
    """A batch's encoder output, from which a group takes its rows."""

    def __init__(self, storage: Any, count: int) -> None:
        self._storage = storage
        self._count = count
        self._host: np.ndarray[Any, np.dtype[np.float32]] | None = None

    def rows(self, index: list[int]) -> Any:
        if index == list(range(self._count)):
            return self._storage  # the whole batch: no copy
        import ctranslate2

        if self._host is None:
            storage = self._storage
            if storage.device != "cpu":
                storage = storage.to_device(ctranslate2.Device.cpu)
            self._host = np.asarray(storage, dtype=np.float32)
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(self._host[index]))


def _detect(engine: WhisperEngine, encoder_output: Any) -> list[list[tuple[str, float]]]:
    """The most likely languages of each window, best first (as ``engine._detect``)."""
    if not engine.multilingual:
        return [[("en", 1.0)] for _ in range(encoder_output.shape[0])]
    return [
        [(str(token)[2:-2], float(p)) for token, p in ranked[:5]]
        for ranked in engine._stepper.model.detect_language(encoder_output)
    ]


def _prepare(
    engine: WhisperEngine, request: DecodeRequest, size: int, ranked: list[tuple[str, float]]
) -> _Prepared:
    """The request's prompt tokens and ceiling, built as ``engine.decode`` builds them."""
    language = ranked[0][0]
    tokenizer = engine._tokenizer(language)
    prompt = request.prompt
    if not prompt and engine.task == "transcribe":
        prompt = _LANGUAGE_PROMPTS.get(language, "")
    prefix = request.prefix.strip()
    previous = tokenizer.encode(" " + prompt.strip()) if prompt.strip() else []
    prompt_tokens = engine._model.get_prompt(tokenizer, previous, without_timestamps=True, prefix=prefix or None)
    prefix_tokens = len(tokenizer.encode(" " + prefix)) if prefix else 0
    max_new = int(_MAX_TOKENS_PER_S * request.seconds) + 8
    return _Prepared(
        request, size, ranked, list(prompt_tokens), prefix_tokens,
        max_length_for(len(prompt_tokens), max_new), list(prompt_tokens).index(tokenizer.sot),
    )  # fmt: skip


def _generate(
    engine: WhisperEngine, encoder_output: Any, group: list[_Prepared], beam_size: int, suppress_blank: bool
) -> list[tuple[Any, list[int]]]:
    """One ``generate`` for requests that share these settings: each one's result and
    text tokens, cut at its own ceiling."""
    # One request's decoder steps are matrix-vector products, faster on one thread
    # (whisper.py); several requests' are matrix-matrix products worth both cores
    # (measured here: 0.63 → 0.44 s for two windows with beam 3, 1.52 → 1.02 s for four).
    model = engine._stepper if len(group) == 1 else engine._model
    results = model.model.generate(
        encoder_output,
        [p.prompt_tokens for p in group],
        beam_size=beam_size,
        max_length=max(p.max_length for p in group),
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=suppress_blank,
        suppress_tokens=[-1],
    )
    eot = engine._tokenizer(group[0].ranked[0][0]).eot  # one vocabulary for all languages
    out = []
    for p, result in zip(group, results):
        # The tokens this request's own ceiling would have allowed (prefix included).
        allowed = new_tokens_allowed(len(p.prompt_tokens), p.max_length) + p.prefix_tokens
        out.append((result, [t for t in result.sequences_ids[0] if t < eot][:allowed]))
    return out


def _align(
    engine: WhisperEngine,
    encoder_output: Any,
    group: list[_Prepared],
    generated: list[tuple[Any, list[int]]],
    language: str,
) -> list[Hypothesis]:
    """One alignment for requests in one language, and their hypotheses."""
    tokenizer = engine._tokenizer(language)
    frames = [min(len(p.request.audio), p.bucket_samples) // _HOP_SAMPLES for p in group]
    aligned = engine._stepper.find_alignment(tokenizer, [tokens for _, tokens in generated], encoder_output, frames)
    out = []
    for p, (result, tokens), alignment in zip(group, generated, aligned):
        words = engine._script(_words(alignment), language)
        split = _prefix_word_count(words, p.request.prefix)
        out.append(
            Hypothesis(
                prefix_words=tuple(words[:split]),
                words=tuple(words[split:]),
                language=language,
                language_probability=p.ranked[0][1],
                language_probabilities=tuple(p.ranked),
                no_speech_probability=float(result.no_speech_prob),
                avg_logprob=mean_logprob(result, len(tokens) - p.prefix_tokens),
                compression_ratio=compression_ratio(tokenizer.decode(tokens)),
            )
        )
    return out
