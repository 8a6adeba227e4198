"""Voice activity gate: per-frame speech probabilities → utterance start and end.

Hysteresis keeps the gate from flickering: speech starts on a frame at or above
``threshold`` and ends only after ``end_silence`` seconds of frames below
``neg_threshold``. Nothing here knows where the probabilities come from (Silero VAD
in production, hand-made numbers in tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..types import SAMPLE_RATE, VAD_FRAME_SAMPLES

FRAME_SECONDS = VAD_FRAME_SAMPLES / SAMPLE_RATE  # one Silero frame: 32 ms

Transition = Literal["start", "end"]


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5  # a frame at or above this is speech
    neg_threshold: float = 0.35  # a frame below this is silence; between: keeps the state
    end_silence: float = 0.5  # seconds of silence that end an utterance
    preroll: float = 0.3  # seconds of audio kept before a speech start
    min_speech: float = 0.25  # an utterance with less speech than this is dropped undecoded


class VadGate:
    """Feeds on one probability per frame; says when an utterance starts and ends."""

    def __init__(self, options: VadOptions | None = None) -> None:
        self.options = options or VadOptions()
        self.active = False
        self.speech_frames = 0  # frames at or above threshold in the current utterance
        self._silent_frames = 0
        self._end_frames = max(1, round(self.options.end_silence / FRAME_SECONDS))

    @property
    def speech_seconds(self) -> float:
        return self.speech_frames * FRAME_SECONDS

    @property
    def enough_speech(self) -> bool:
        return self.speech_seconds >= self.options.min_speech

    def step(self, probability: float) -> Transition | None:
        """Take the next frame's probability; return a transition it causes, if any."""
        if not self.active:
            if probability >= self.options.threshold:
                self.active = True
                self.speech_frames = 1
                self._silent_frames = 0
                return "start"
            return None
        if probability >= self.options.threshold:
            self.speech_frames += 1
            self._silent_frames = 0
        elif probability < self.options.neg_threshold:
            self._silent_frames += 1
            if self._silent_frames >= self._end_frames:
                self.active = False
                return "end"
        return None
