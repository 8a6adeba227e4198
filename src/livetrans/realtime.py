"""A stream's real-time factor: compute seconds per audio second (over 1, it cannot keep up).

Over the whole stream it says what the stream cost; as a stream's load for admitting
another (server/admission.py) it lags. A live-commerce stream often opens with minutes of
music or silence that the voice gate keeps from the speech model, so when the host starts
talking its whole-stream factor stays near 0 for minutes while its decodes take the model's
time. :attr:`RealTimeFactor.load` is the higher of the whole-stream factor and the factor
over the last ``window`` seconds of audio: a stream that has just become busy counts as
busy, and a pause in its talk does not make it count as idle (the whole-stream factor
holds).
"""

from __future__ import annotations

from collections import deque

LOAD_WINDOW = 60.0  # s of a stream's latest audio in its load


class RealTimeFactor:
    """Add each recognition call's audio and compute seconds; read ``whole`` and ``load``."""

    def __init__(self, window: float = LOAD_WINDOW) -> None:
        if window <= 0:
            raise ValueError(f"the load window must be positive, not {window}")
        self.window = window
        self.audio_seconds = 0.0
        self.compute_seconds = 0.0
        # (audio, compute) seconds so far after each call; the first is the latest at or
        # before the window's start.
        self._marks: deque[tuple[float, float]] = deque([(0.0, 0.0)])

    def add(self, audio: float, compute: float) -> None:
        self.audio_seconds += audio
        self.compute_seconds += compute
        self._marks.append((self.audio_seconds, self.compute_seconds))
        start = self.audio_seconds - self.window
        while len(self._marks) > 1 and self._marks[1][0] <= start:
            self._marks.popleft()

    @property
    def whole(self) -> float:
        """Over the whole stream (0 before any audio)."""
        return self.compute_seconds / self.audio_seconds if self.audio_seconds else 0.0

    @property
    def recent(self) -> float:
        """Over the last ``window`` seconds of audio, or a little more (calls are not cut):
        the whole stream's while it is shorter."""
        audio, compute = self._marks[0]
        span = self.audio_seconds - audio
        return (self.compute_seconds - compute) / span if span else 0.0

    @property
    def load(self) -> float:
        """The stream's load on the speech model: the higher of ``whole`` and ``recent``."""
        return max(self.whole, self.recent)
