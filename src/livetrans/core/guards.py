"""Hallucination guards: what Whisper is known to invent, dropped from a decode.

Each guard is a small named :class:`HypothesisFilter`; a path applies an ordered
tuple of them (:data:`STREAMING_FILTERS`, :data:`OFFLINE_FILTERS`) with one
:class:`GuardOptions`, so the live and the offline path judge a decode alike:

- :class:`LoopFilter`: a repetition loop (gzip compression ratio too high);
- :class:`NoSpeechFilter`: the model thinks it likely heard no speech, or somewhat
  likely while unsure of its words;
- :class:`PaddingFilter`: words placed in the silence padded after the audio;
- :class:`RepetitionFilter`: the loop at the end of an otherwise good decode;
- :class:`PromptEchoFilter`: a doubtful copy of the text given as the prompt or
  forced prefix, or of the vocabulary's terms in the prompt;
- :class:`PhantomFilter`: stock phrases from subtitled training data (credits,
  sign-offs) that Whisper writes on noise.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from ..types import Word
from .decoding import PROMPT_VOCABULARY_TOKENS
from .stabilizer import join_words, word_key
from .vocabulary import Vocabulary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GuardOptions:
    """The thresholds of the guards, shared by the streaming and offline paths.

    Whisper's own no-speech test (no-speech > 0.6 and log-probability < -1) lets crowd
    babble and restaurant noise through with a confident "Thank you."; here a decode
    is dropped when the model thinks it likely heard no speech, or somewhat likely and
    it is unsure of the words (docs/benchmarks.md has what was measured)."""

    # Above: a repetition loop, the decode is dropped. Lower drops real lists and
    # refrains; higher lets loops through.
    max_compression_ratio: float = 2.4
    # Above: not speech, dropped. Lower drops quiet or distant speech; higher lets
    # noise through.
    max_no_speech: float = 0.5
    # Above, with the words doubtful (the next two): dropped. Lower drops more noisy
    # speech; higher lets more confident-sounding babble through.
    doubtful_no_speech: float = 0.2
    # Mean word probability below which the words are doubtful; also the mean below
    # which a copy of the prompt counts as an echo rather than a repeat.
    min_word_probability: float = 0.5
    # Average log-probability below which a decode lost its way (Whisper's own test
    # for a failed decode): doubtful here, and it never counts towards agreement
    # (commit.py).
    min_avg_logprob: float = -1.0


# A decode this unsure (average log-probability) or with a word this unlikely gives
# weak evidence of speech: a sign-off phrase in it is taken for a phantom.
PHANTOM_DOUBT_LOGPROB = -0.7
PHANTOM_DOUBT_WORD_PROBABILITY = 0.2
# A word starting this close to the end of the audio (seconds) is placed in the
# silence padded after it: the model guessing at a word cut off at the window's end.
PADDING_MARGIN = 0.05
# An n-gram (up to this many words) said more than this many times in a row is a loop.
MAX_REPEATS = 2
MAX_NGRAM = 8


@dataclass(frozen=True)
class Candidate:
    """A decode as the guards see it. Word times are seconds from the window's start."""

    words: tuple[Word, ...]
    no_speech_probability: float
    avg_logprob: float
    compression_ratio: float
    seconds: float  # the decoded audio's length, padding excluded
    language: str
    final_text: str = ""  # final text before these words (prompt, prefix), in ``language``
    vocabulary: Vocabulary = field(default_factory=Vocabulary)  # its terms went in the prompt
    opens_window: bool = True  # nothing before it in its window is final yet


class HypothesisFilter(Protocol):
    """One guard: the words of ``candidate`` it keeps (none: the decode is dropped)."""

    name: str

    def __call__(self, candidate: Candidate, options: GuardOptions) -> tuple[Word, ...]: ...


class LoopFilter:
    name = "loop"

    def __call__(self, candidate: Candidate, options: GuardOptions) -> tuple[Word, ...]:
        return () if is_loop(candidate.compression_ratio, options) else candidate.words


class NoSpeechFilter:
    name = "no-speech"

    def __call__(self, candidate: Candidate, options: GuardOptions) -> tuple[Word, ...]:
        probabilities = [w.probability for w in candidate.words]
        if heard_speech(candidate.no_speech_probability, candidate.avg_logprob, probabilities, options):
            return candidate.words
        return ()


class PaddingFilter:
    """Words that start in the silence after the audio go; word ends stop at its end."""

    name = "padding"

    def __call__(self, candidate: Candidate, options: GuardOptions) -> tuple[Word, ...]:
        seconds = candidate.seconds
        return tuple(
            replace(w, end=min(w.end, seconds)) for w in candidate.words if w.start < seconds - PADDING_MARGIN
        )


class RepetitionFilter:
    name = "repetition"

    def __call__(self, candidate: Candidate, options: GuardOptions) -> tuple[Word, ...]:
        return tuple(trim_repetition(candidate.words, MAX_REPEATS, MAX_NGRAM))


class PromptEchoFilter:
    """A doubtful copy of the final text before, then of the vocabulary's terms."""

    name = "prompt echo"

    def __call__(self, candidate: Candidate, options: GuardOptions) -> tuple[Word, ...]:
        sure = options.min_word_probability
        words = drop_echo(candidate.words, candidate.final_text, max_probability=sure)
        vocabulary = candidate.vocabulary
        return tuple(
            vocabulary.drop_echo(
                words, candidate.language, PROMPT_VOCABULARY_TOKENS, max_probability=sure, before=candidate.final_text
            )
        )


class PhantomFilter:
    """A phantom phrase opening a window is dropped; later in a window the words
    before it vouch for the speech."""

    name = "phantom"

    def __call__(self, candidate: Candidate, options: GuardOptions) -> tuple[Word, ...]:
        words = candidate.words
        doubtful = (
            candidate.no_speech_probability > options.doubtful_no_speech
            or candidate.avg_logprob < PHANTOM_DOUBT_LOGPROB
            or any(w.probability < PHANTOM_DOUBT_WORD_PROBABILITY for w in words)
        )
        if candidate.opens_window and is_phantom(words, doubtful=doubtful):
            return ()
        return words


# The live path's guards, in order: whole-decode tests first, then word by word.
STREAMING_FILTERS: tuple[HypothesisFilter, ...] = (
    LoopFilter(),
    NoSpeechFilter(),
    PaddingFilter(),
    RepetitionFilter(),
    PromptEchoFilter(),
    PhantomFilter(),
)
# The offline path's: the whole-decode tests and the vocabulary's echo (its prompt
# holds no final text). It cuts padded words itself, before these run: its windows
# are VAD spans, not the live edge.
OFFLINE_FILTERS: tuple[HypothesisFilter, ...] = (LoopFilter(), NoSpeechFilter(), PromptEchoFilter())


def apply_guards(
    candidate: Candidate, options: GuardOptions, filters: Sequence[HypothesisFilter] = STREAMING_FILTERS
) -> tuple[Word, ...]:
    """The words of ``candidate`` that pass ``filters``, in order."""
    for guard in filters:
        words = guard(candidate, options)
        if words != candidate.words:
            log.debug("%s guard: %r -> %r", guard.name, join_words(candidate.words), join_words(words))
        if not words:
            return ()
        candidate = replace(candidate, words=words)
    return candidate.words


def is_loop(compression_ratio: float, options: GuardOptions) -> bool:
    """Whether a decode's text compresses like a repetition loop (Whisper's own test)."""
    return compression_ratio > options.max_compression_ratio


def heard_speech(
    no_speech: float,
    avg_logprob: float,
    word_probabilities: Sequence[float],
    options: GuardOptions,
) -> bool:
    """Whether a decode is worth showing: the model did not think it likely heard
    no speech, nor somewhat likely while unsure of its words."""
    if no_speech > options.max_no_speech:
        return False
    mean_probability = float(np.mean(word_probabilities)) if len(word_probabilities) else 1.0
    unsure = mean_probability < options.min_word_probability or avg_logprob < options.min_avg_logprob
    return not (no_speech > options.doubtful_no_speech and unsure)


# Subtitle credits from Whisper's training data: never real speech in a live stream.
_CREDIT_PHRASES = [
    "subtitles by the amara org community",
    "subtitles by",
    "transcribed by",
    "字幕由amaraorg社区提供",
    "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "продолжение следует",
    "субтитры сделал dimatorzok",
    "untertitel der amaraorgcommunity",
    "untertitel im auftrag des zdf",
    "soustitrage stv 501",
    "soustitrage st 501",
    "subtítulos realizados por la comunidad de amaraorg",
    "legendas pela comunidade amaraorg",
    "sottotitoli creati dalla comunità amaraorg",
]
# Sign-offs Whisper writes on noise and music, but that a host may also really say:
# dropped only when the decoder itself doubted there was speech.
_SIGN_OFF_PHRASES = [
    "thanks for watching",
    "thank you for watching",
    "thank you so much for watching",
    "please subscribe",
    "please like and subscribe",
    "you",
    "thank you",
    "bye",
    "谢谢观看",
    "感谢观看",
    "谢谢",
    "ご視聴ありがとうございました",
    "gracias por ver el video",
    "gracias",
]
_CREDIT_KEYS = frozenset(word_key(p) for p in _CREDIT_PHRASES)
_SIGN_OFF_KEYS = frozenset(word_key(p) for p in _SIGN_OFF_PHRASES)


def is_phantom(words: Sequence[Word], *, doubtful: bool) -> bool:
    """True when the words, taken together, are only a phrase Whisper invents.

    Credit lines are always phantoms; sign-offs only when ``doubtful`` (the decoder
    or the VAD gave weak evidence of speech).
    """
    key = word_key("".join(w.text for w in words))
    if not key:
        return False
    return key in _CREDIT_KEYS or (doubtful and key in _SIGN_OFF_KEYS)


def trim_repetition(words: Sequence[Word], max_repeats: int = MAX_REPEATS, max_ngram: int = MAX_NGRAM) -> list[Word]:
    """Cut a repetition loop: an n-gram said more than ``max_repeats`` times in a row.

    The words up to and including the last allowed repeat are kept; the loop after
    it is dropped, which is what a human captioner would write.
    """
    keys = [word_key(w.text) for w in words]
    for start in range(len(keys)):
        for n in range(1, max_ngram + 1):
            gram = keys[start : start + n]
            if len(gram) < n or not any(gram):
                break
            repeats = 1
            pos = start + n
            while keys[pos : pos + n] == gram:
                repeats += 1
                pos += n
            if repeats > max_repeats:
                return list(words[: start + n * max_repeats])
    return list(words)


def drop_echo(
    words: Sequence[Word], before: str, *, max_probability: float = 0.5, min_words: int = 2, min_chars: int = 4
) -> list[Word]:
    """Drop leading words that only repeat the end of the final text ``before`` them
    and that the decoder itself doubted (mean probability under ``max_probability``).

    Whisper given a prompt sometimes copies its end instead of hearing the audio,
    unsure of the copy at first and surer with each repeat. A speaker who really
    repeats a phrase is heard with confidence from the start, and kept.
    """
    done = word_key(before)
    out = list(words)
    echoing = False
    while True:
        copied = 0
        spelled = ""
        for n, word in enumerate(out, start=1):
            spelled += word_key(word.text)
            if len(spelled) > len(done):
                break
            if n >= min_words and len(spelled) >= min_chars and done.endswith(spelled):
                copied = n
        if not copied:
            return out
        doubted = sum(w.probability for w in out[:copied]) / copied < max_probability
        # Once the decoder is echoing, a copy of the copy is the same loop, however
        # sure of itself it has grown by then.
        if not (doubted or echoing):
            return out
        out, echoing = out[copied:], True
