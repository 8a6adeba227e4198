"""Utterance tracking: audio cut into VAD frames, and where utterances start and end.

Every frame's speech probability goes through the :class:`VadGate`. Silence is never
decoded; a short pre-roll before a speech start is kept so an utterance's first
syllable is not clipped. A sound too short to decode on its own (a short word the
VAD hears for a few frames) is held for ``blip_hold`` seconds after it ended: if
speech resumes by then it is handed back as the start of the next utterance, to be
put in front of its window once that utterance's language is settled (not before:
held noise or music sways the language detection). A pause of ``pause_closes_sentence``
before an utterance closes the open sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..types import SAMPLE_RATE, VAD_FRAME_SAMPLES, Float32Array
from .vad import Transition, VadGate, VadOptions


@dataclass(frozen=True)
class UtteranceOptions:
    vad: VadOptions = field(default_factory=VadOptions)  # the gate's thresholds, pre-roll and minimum speech
    # Seconds an utterance too short to decode is held after it ended, as the start of
    # the next one. Longer keeps more stray sounds in front of speech.
    blip_hold: float = 1.0
    # Seconds of pause before an utterance that close the open sentence. Shorter
    # splits sentences at breaths; longer joins separate sentences.
    pause_closes_sentence: float = 1.5


class UtteranceTracker:
    """Frames in, utterance starts and ends out; keeps the pre-roll and held audio."""

    def __init__(self, options: UtteranceOptions) -> None:
        self.options = options
        self.gate = VadGate(options.vad)
        self._unframed = np.zeros(0, dtype=np.float32)
        self._frames_seen = 0  # frames consumed since the stream started
        self._preroll: list[Float32Array] = []
        self._blip_frames = 0  # frames of an undecoded utterance kept in the preroll
        self._blip_silence = 0  # frames of silence since that utterance ended
        self.held: list[Float32Array] = []  # its audio, handed to the utterance that follows
        self._preroll_frames = max(1, round(options.vad.preroll * SAMPLE_RATE / VAD_FRAME_SAMPLES))
        self._blip_hold_frames = round(options.blip_hold * SAMPLE_RATE / VAD_FRAME_SAMPLES)

    @property
    def active(self) -> bool:
        return self.gate.active

    @property
    def frame_start(self) -> float:
        """Stream seconds of the next frame's first sample."""
        return self._frames_seen * VAD_FRAME_SAMPLES / SAMPLE_RATE

    def take(self, samples: Float32Array) -> None:
        """New audio, cut into frames by :meth:`frame` as their probabilities come."""
        self._unframed = np.concatenate([self._unframed, samples])

    def frame(self, probability: float) -> tuple[Float32Array, Transition | None]:
        """The next frame and the transition its speech probability causes, if any."""
        frame = self._unframed[:VAD_FRAME_SAMPLES]
        self._unframed = self._unframed[VAD_FRAME_SAMPLES:]
        return frame, self.gate.step(probability)

    def framed(self) -> None:
        """The frame from :meth:`frame` is dealt with."""
        self._frames_seen += 1

    def rest(self) -> Float32Array:
        """The samples short of a whole frame at the end of the stream."""
        rest, self._unframed = self._unframed, np.zeros(0, dtype=np.float32)
        return rest

    def keep(self, frame: Float32Array) -> None:
        """A frame of silence: kept as pre-roll (longer while a short sound is held)."""
        self._preroll.append(frame)
        keep = self._preroll_frames
        if self._blip_frames:
            self._blip_silence += 1
            if self._blip_silence <= self._blip_hold_frames:
                keep = max(keep, self._blip_frames + self._blip_silence)
            else:
                self._blip_frames = 0  # too long ago to be the start of what follows
        del self._preroll[:-keep]

    def start(self) -> tuple[list[Float32Array], float]:
        """An utterance starts: its pre-roll and the stream time it starts at. A held
        short sound before it goes to ``held``."""
        preroll = self._preroll[-self._preroll_frames :]
        self.held = self._preroll[: -self._preroll_frames] if self._blip_frames else []
        self._preroll, self._blip_frames = [], 0
        start = self.frame_start - sum(len(p) for p in preroll) / SAMPLE_RATE
        return preroll, start

    def closes_sentence(self, last_word_end: float | None) -> bool:
        """Whether the pause before the utterance starting now closes the open sentence,
        whose last word ended at ``last_word_end`` (None: no sentence is open)."""
        pause = self.options.pause_closes_sentence
        return last_word_end is not None and self.frame_start - last_word_end >= pause

    def take_held(self) -> Float32Array | None:
        """The held start of this utterance, once (None: nothing held)."""
        if not self.held:
            return None
        audio = np.concatenate(self.held)
        self.held = []
        return audio

    def end(self, audio: Sequence[Float32Array], *, decoded: bool) -> None:
        """The utterance (``audio``) ended. Its last frames are the next pre-roll; if it
        was too short to decode, more of it is held as the start of the next one."""
        hold = 0 if decoded else self._blip_hold_frames
        count = self._preroll_frames + hold
        tail: list[Float32Array] = []
        if audio:
            last = np.concatenate(audio)[-count * VAD_FRAME_SAMPLES :]
            tail = [last[i : i + VAD_FRAME_SAMPLES] for i in range(0, len(last), VAD_FRAME_SAMPLES)]
        self._blip_frames, self._blip_silence = (0 if decoded else len(tail)), 0
        self.held = []
        self._preroll = tail

    @property
    def kept_seconds(self) -> float:
        """Seconds of audio kept for the next utterance (pre-roll and held sound)."""
        return sum(len(p) for p in self._preroll) / SAMPLE_RATE

    @property
    def held_seconds(self) -> float:
        return sum(len(h) for h in self.held) / SAMPLE_RATE
