"""What a streaming recogniser asks of a speech decoder, and what it gets back.

Types only: the recogniser (core/recognizer.py) hands out :class:`DecodeRequest`s and
takes :class:`Hypothesis`es back; a speech adapter (asr/whisper.py) or a scheduler
that batches many streams' requests depends on this module, not on the recogniser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..types import SAMPLE_RATE, Float32Array, Word

# Whisper keeps the last this many tokens of a prompt (half its text context, less one).
PROMPT_TOKENS = 223
# The stream's vocabulary goes first in a decode's prompt, as many terms as fit about
# this many tokens (vocabulary.py); the final text before the window fills the rest.
# The guards that drop a copy of the prompt's terms read the same budget.
PROMPT_VOCABULARY_TOKENS = 120


@dataclass(frozen=True)
class Hypothesis:
    """One decode of a window. Word times are seconds from the window's start."""

    prefix_words: tuple[Word, ...]  # the forced prefix, re-aligned
    words: tuple[Word, ...]  # new words after the prefix
    language: str
    language_probability: float
    no_speech_probability: float
    avg_logprob: float
    compression_ratio: float
    language_probabilities: tuple[tuple[str, float], ...] = ()  # the top few, best first


@dataclass(frozen=True, eq=False)
class DecodeRequest:
    """One decode a recogniser needs: ``audio`` with ``prefix`` forced as the first
    words, ``prompt`` as the text before, in ``language`` (None: detect it).

    Compared by identity: two requests for the same audio are still two requests."""

    audio: Float32Array
    prompt: str
    prefix: str
    language: str | None
    beam_size: int

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class Decoder(Protocol):
    """A speech model that decodes one window at a time (WhisperEngine)."""

    def decode(
        self,
        audio: Float32Array,
        *,
        prompt: str,
        prefix: str,
        language: str | None,
        beam_size: int = 1,
    ) -> Hypothesis: ...


def decode(decoder: Decoder, request: DecodeRequest) -> Hypothesis:
    """Answer ``request`` with ``decoder``."""
    return decoder.decode(
        request.audio,
        prompt=request.prompt,
        prefix=request.prefix,
        language=request.language,
        beam_size=request.beam_size,
    )


class SpeechProbabilities(Protocol):
    """A voice activity model for one stream: one speech probability per
    ``VAD_FRAME_SAMPLES`` frame completed by the samples pushed so far."""

    def push(self, samples: Float32Array) -> Float32Array: ...
