"""The decode schedule: when the recogniser decodes its window, and how wide it searches.

While someone speaks the window is decoded again whenever ``step`` seconds of new
audio arrived, and not before it holds ``MIN_DECODE_WINDOW`` seconds of utterance.
A caller that was busy hands over all the audio that arrived meanwhile in one push;
the window is then decoded once for all of it rather than once per chunk, so latency
stays bounded when decoding is slower than real time.

The running decodes use beam search (``beam``): agreement cannot catch a mistake
that every greedy decode repeats, and beam search makes fewer of them. The decode at
a pause, whose words all become final with no later hypothesis to confirm them,
searches at least as wide (``final_beam``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..types import SAMPLE_RATE

# Seconds of utterance before its first decode: less is too little for the decoder
# (and the language detection) to go on.
MIN_DECODE_WINDOW = 1.0


@dataclass(frozen=True)
class ScheduleOptions:
    # Seconds of new speech before the window is decoded again. Shorter shows words
    # sooner and costs more decodes.
    step: float = 0.5
    # Beam size of the running decodes. Greedy decoding repeats its own mistakes and
    # two greedy hypotheses agree on them; beam 3 makes fewer (docs/benchmarks.md).
    # Wider is more accurate and slower.
    beam: int = 3
    # Beam size of the decode at a pause: as wide as the offline path searches (one
    # such decode per pause, so the cost is small; docs/benchmarks.md).
    final_beam: int = 5


class DecodeSchedule:
    def __init__(self, options: ScheduleOptions) -> None:
        self.options = options

    def due(self, *, enough_speech: bool, window_samples: int, undecoded_samples: int) -> bool:
        """Whether a running decode is due, during an utterance with ``enough_speech``."""
        return (
            enough_speech
            and window_samples >= MIN_DECODE_WINDOW * SAMPLE_RATE
            and undecoded_samples >= self.options.step * SAMPLE_RATE
        )

    def beam_size(self, *, final: bool) -> int:
        """The decode at a pause never searches narrower than the running ones."""
        o = self.options
        return max(o.final_beam, o.beam) if final else o.beam
