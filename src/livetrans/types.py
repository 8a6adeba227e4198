"""The data that flows through livetrans, as frozen dataclasses.

Times are float seconds of *stream time*: 0.0 is the first audio sample of the
stream. ``emitted_at`` is wall-clock seconds since the first audio sample was
released to the pipeline (for a file replayed with ``--live`` the two clocks run
together, so ``emitted_at - end`` is the latency a viewer sees).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000  # Hz, what every stage after the source works in
VAD_FRAME_SAMPLES = 512  # one Silero VAD frame, 32 ms at 16 kHz

Float32Array = npt.NDArray[np.float32]
CaptionKind = Literal["partial", "final"]


@dataclass(frozen=True)
class AudioChunk:
    """Mono float32 samples at SAMPLE_RATE, starting at ``start`` seconds."""

    samples: Float32Array
    start: float
    pts: float | None = None  # s, the source's presentation time of the first sample, if it has one

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Word:
    """One recognised word (or CJK character run) with its stream times.

    ``text`` keeps Whisper's leading space for space-delimited scripts, so
    ``"".join(w.text for w in words)`` rebuilds the text exactly.
    """

    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True)
class CaptionEvent:
    """Recognised source-language text.

    ``partial``: the tentative tail after the last final; the next partial or
    final with the same ``id`` replaces it. ``final``: a run of words that is
    never changed or taken back; ``sentence_id`` names the sentence it belongs
    to, and a SentenceEvent announces when that sentence is complete.
    ``seq`` and ``emitted_at`` are stamped by the pipeline when it publishes.
    """

    kind: CaptionKind
    id: str
    start: float
    end: float
    text: str
    lang: str
    words: tuple[Word, ...] = ()
    sentence_id: str = ""
    seq: int = 0
    emitted_at: float = 0.0
    type: Literal["caption"] = field(default="caption", init=False)


@dataclass(frozen=True)
class SentenceEvent:
    """A whole source sentence, built from finals; the unit of translation and of cues."""

    id: str
    start: float
    end: float
    text: str
    lang: str
    words: tuple[Word, ...] = ()
    caption_ids: tuple[str, ...] = ()
    seq: int = 0
    emitted_at: float = 0.0
    type: Literal["sentence"] = field(default="sentence", init=False)


@dataclass(frozen=True)
class TranslationEvent:
    """One sentence translated into ``lang``; ``id`` is the source sentence's id.

    ``final``: the finished sentence translated; never changed. ``partial`` (a draft,
    live only): the sentence so far (its final words and the recogniser's partial
    tail) translated while it is still being spoken; the next partial or the final
    with the same ``id`` and ``lang`` replaces it. Drafts carry no ``seq`` of their
    own and are not replayed, like caption partials.
    """

    id: str
    lang: str
    source_lang: str
    text: str
    start: float
    end: float
    kind: CaptionKind = "final"
    seq: int = 0
    emitted_at: float = 0.0
    type: Literal["translation"] = field(default="translation", init=False)


@dataclass(frozen=True)
class WatermarkEvent:
    """Everything the recogniser will say about audio before ``time`` has been said.

    No caption, sentence or translation of the stream will start before ``time``
    (stream seconds) apart from those of sentences already begun (their finals are
    out). Not durable: it carries the seq of the last durable event before it.
    Consumers that package by time (HLS) use it to close segments in silence.
    """

    time: float
    seq: int = 0
    emitted_at: float = 0.0
    lang: str = ""
    type: Literal["watermark"] = field(default="watermark", init=False)


ErrorStage = Literal["recognition", "translation"]


@dataclass(frozen=True)
class ErrorEvent:
    """A model call failed and the stream goes on without what it would have made.

    ``stage`` says which model, ``code`` what failed:

    - "recognition", ``decode_failed``: the speech from ``start`` to ``end`` (stream
      seconds) could not be decoded, even when tried again, and has no caption;
    - "translation", ``translation_failed``: the sentence ``id`` has no translation
      into ``lang``, or into any target when ``lang`` is "".

    Not durable: it carries the seq of the last durable event before it, and is
    neither journalled nor replayed.
    """

    stage: ErrorStage
    code: str
    message: str  # what failed, for an operator (the exception's text)
    id: str = ""  # the sentence (s…) it concerns; "" for a dropped stretch of speech
    lang: str = ""  # translation: the target language that failed ("" for all of them)
    start: float = 0.0  # recognition: the stretch of speech left without captions
    end: float = 0.0
    seq: int = 0
    emitted_at: float = 0.0
    type: Literal["error"] = field(default="error", init=False)


Event = CaptionEvent | SentenceEvent | TranslationEvent | WatermarkEvent | ErrorEvent


def is_durable(event: Event) -> bool:
    """Finals, sentences and final translations: numbered, journalled, replayed."""
    return not is_partial(event) and not isinstance(event, (WatermarkEvent, ErrorEvent))


def is_partial(event: Event) -> bool:
    """A partial caption or a draft translation: replaced later, never replayed."""
    return isinstance(event, (CaptionEvent, TranslationEvent)) and event.kind == "partial"


@dataclass(frozen=True)
class Cue:
    """One subtitle on screen: at most two lines, shown from ``start`` to ``end``."""

    start: float
    end: float
    lines: tuple[str, ...]
    lang: str

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
