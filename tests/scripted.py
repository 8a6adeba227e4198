"""Hand-made stand-ins for the speech models, for testing the pure recogniser.

The audio is a ramp: sample i holds the value i (exact in float32 up to 2**24
samples, about 17 minutes), so a stand-in can tell which stream seconds a window
covers. They script *inputs* (what a decoder would hear); every assertion is on
what the real recogniser does with them.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TypeVar

import numpy as np

from livetrans.core.commit import CommitOptions
from livetrans.core.decoding import Decoder, DecodeRequest, Hypothesis, decode
from livetrans.core.driver import DecodingRecognizer
from livetrans.core.guards import GuardOptions
from livetrans.core.recognizer import StreamingRecognizer
from livetrans.core.recognizer_options import RecognizerOptions
from livetrans.core.schedule import ScheduleOptions
from livetrans.core.utterance import UtteranceOptions
from livetrans.core.window import WindowOptions
from livetrans.types import SAMPLE_RATE, VAD_FRAME_SAMPLES, AudioChunk, Word

FRAME = VAD_FRAME_SAMPLES
T = TypeVar("T")


def ramp(seconds: float, start: float = 0.0) -> np.ndarray:
    first = int(round(start * SAMPLE_RATE))
    return np.arange(first, first + int(round(seconds * SAMPLE_RATE)), dtype=np.float32)


def chunks(seconds: float, chunk_seconds: float = 0.1) -> list[AudioChunk]:
    audio = ramp(seconds)
    step = int(chunk_seconds * SAMPLE_RATE)
    return [AudioChunk(audio[i : i + step], i / SAMPLE_RATE) for i in range(0, len(audio), step)]


@dataclass
class ScriptedVad:
    """Speech probability 0.9 inside the given (start, end) intervals, 0.05 outside."""

    speech: Sequence[tuple[float, float]]
    _pending: list[float] = field(default_factory=list)

    def push(self, samples: np.ndarray) -> np.ndarray:
        self._pending.extend(samples.tolist())
        n = len(self._pending) // FRAME
        out = []
        for k in range(n):
            t = self._pending[k * FRAME] / SAMPLE_RATE
            out.append(0.9 if any(s <= t < e for s, e in self.speech) else 0.05)
        del self._pending[: n * FRAME]
        return np.array(out, dtype=np.float32)


@dataclass
class ScriptedDecoder:
    """Hears the scripted words that end inside the window; a word still being
    spoken at the window's end is misheard (its text ends in '~')."""

    words: Sequence[Word]
    language: str = "en"
    calls: list[tuple[float, float, str, str]] = field(default_factory=list)
    beam_sizes: list[int] = field(default_factory=list)  # one per call

    def decode(
        self, audio: np.ndarray, *, prompt: str, prefix: str, language: str | None, beam_size: int = 1
    ) -> Hypothesis:
        start = float(audio[0]) / SAMPLE_RATE
        end = (float(audio[-1]) + 1) / SAMPLE_RATE
        self.calls.append((start, end, prompt, prefix))
        self.beam_sizes.append(beam_size)
        heard: list[Word] = []
        for w in self.words:
            if w.start < start - 1e-6 or w.start >= end:
                continue
            text = w.text if w.end <= end else w.text + "~"
            heard.append(Word(w.start - start, min(w.end, end) - start, text))
        spelled = "".join(prefix.split())
        n, acc = 0, ""
        while n < len(heard) and len(acc) < len(spelled):
            acc += "".join(heard[n].text.split())
            n += 1
        return Hypothesis(
            prefix_words=tuple(heard[:n]),
            words=tuple(heard[n:]),
            language=language or self.language,
            language_probability=0.99,
            no_speech_probability=0.01,
            avg_logprob=-0.2,
            compression_ratio=1.2,
        )


def sentence_words(text: str, start: float, seconds_per_word: float = 0.4) -> list[Word]:
    out = []
    t = start
    for token in text.split():
        out.append(Word(round(t, 3), round(t + seconds_per_word * 0.9, 3), " " + token))
        t += seconds_per_word
    return out


_GROUPS = {
    "schedule": ScheduleOptions,
    "window": WindowOptions,
    "commit": CommitOptions,
    "guards": GuardOptions,
    "utterance": UtteranceOptions,
}


def options(language: str | None = "en", **tunables: object) -> RecognizerOptions:
    """RecognizerOptions with tunables named flat (``beam=1``, ``trim_after=4.0``),
    each set in the options group that holds it."""
    groups: dict[str, dict[str, object]] = {}
    for name, value in tunables.items():
        group = next(g for g, cls in _GROUPS.items() if name in {f.name for f in fields(cls)})
        groups.setdefault(group, {})[name] = value
    base = RecognizerOptions(language=language)
    return replace(base, **{g: replace(getattr(base, g), **v) for g, v in groups.items()})


def recognizer(decoder: Decoder, vad: ScriptedVad, opts: RecognizerOptions | None = None) -> DecodingRecognizer:
    """The real recogniser, its decode requests answered by ``decoder`` at once."""
    return DecodingRecognizer(StreamingRecognizer(vad, opts), decoder)


def answered(flow: Generator[DecodeRequest, Hypothesis, T], decoder: Decoder) -> tuple[T, list[DecodeRequest]]:
    """Run a decode flow to its end, each request answered by ``decoder`` at once:
    what the flow returned, and the requests it made, in order."""
    requests: list[DecodeRequest] = []
    try:
        request = next(flow)
        while True:
            requests.append(request)
            request = flow.send(decode(decoder, request))
    except StopIteration as done:
        return done.value, requests
