"""Whether this process can take one more live stream: the admission rule.

The streams of one process share one speech model. Each live stream's real-time
factor (``StreamState.realtime_factor``: the wall seconds its recognition calls took,
waiting for the shared model included, per audio second) is about the share of time
the model is busy, so the highest factor among N live streams stands for the load of
all N. One more stream is predicted to need ``load * (N + 1) / N``; when that is over
``max_load``, the model could not keep every stream at real time, so the new stream is
refused (close code 1013, try again later) and its encoder can go to another worker.
A factor counts once its stream has ``min_audio`` seconds of audio: a stream's first
decodes are not its steady load. The prediction is pessimistic where decodes are
batched (a GPU), since a batch costs less than its decodes one by one.

Measured (docs/benchmarks.md, "Many streams on one server"): on 2 cores with ``base``
int8, one stream runs at a factor of 0.6-0.9 and keeps the latency budget; with two,
both fall behind it. So this machine takes one stream, and refuses the second.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class AdmissionRule:
    max_load: float | None = 0.9  # predicted share of time the speech model is busy; None: admit all
    min_audio: float = 5.0  # s of a stream's audio before its factor counts


class LiveStream(Protocol):
    name: str
    live: bool
    audio_seconds: float

    @property
    def realtime_factor(self) -> float | None: ...


def refusal(streams: Iterable[LiveStream], rule: AdmissionRule) -> str | None:
    """Why one more stream would not keep within real time here; None: admit it."""
    if rule.max_load is None:
        return None
    live = [s for s in streams if s.live]
    loads = [
        factor
        for s in live
        if s.audio_seconds >= rule.min_audio and (factor := s.realtime_factor) is not None
    ]
    if not loads:
        return None
    predicted = max(loads) * (len(live) + 1) / len(live)
    if predicted <= rule.max_load:
        return None
    return (
        f"at capacity: one more stream would need {predicted:.0%} of the speech model "
        f"(limit {rule.max_load:.0%}); retry elsewhere or later"
    )
