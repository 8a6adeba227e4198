"""Whether this process can take one more live stream: the admission rule.

The streams of one process share one speech model, which runs ``slots`` decodes at once
(``WhisperEngine.parallel``: one a core on CPU; 1 where decodes are batched). Each live
stream's real-time factor (``StreamState.realtime_factor``: the wall seconds its
recognition calls took, waiting for a free slot included, per audio second; the higher
of the whole stream's and the last minute's, livetrans/realtime.py) is its share of a
slot's time, so the load is their sum over ``slots``; over 1, streams wait for the
model. One more stream is predicted to bring ``load * (N + 1) / N``; when that is over
``max_load``, the new stream is refused (close code 1013, try again later) and its
encoder can go to another worker. A factor counts once its stream has ``min_audio``
seconds of audio: a stream's first decodes are not its steady load. The prediction is
pessimistic where decodes are batched (a GPU), since a batch costs less than its decodes
one by one.

Measured (docs/benchmarks.md, "Many streams on one server"): on 2 cores with ``base``
int8, 1 to 4 streams bring a load of 0.28, 0.72, 1.09 and 1.56; three streams keep the
latency budget, four do not. In its first minute a stream's factor counts from its start,
so it lags a load that has just grown: streams joining a live server every 12 s predicted
0.94 for a third and 1.24 for a fourth; at the end of 25 s runs, 1.09 and 1.46. The
default ``max_load`` of 1.15 takes the third and refuses the fourth in both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class AdmissionRule:
    # The most predicted load (recognition seconds per audio second, per decode slot,
    # waiting included) that admits a stream; None: admit all.
    max_load: float | None = 1.15
    min_audio: float = 5.0  # s of a stream's audio before its factor counts


class LiveStream(Protocol):
    name: str
    live: bool
    audio_seconds: float

    @property
    def realtime_factor(self) -> float | None: ...


def refusal(streams: Iterable[LiveStream], rule: AdmissionRule, slots: int = 1) -> str | None:
    """Why one more stream would not keep within real time here, on a model that runs
    ``slots`` decodes at once; None: admit it."""
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
    # A young stream counts as loaded as the busiest measured one.
    load = (sum(loads) + max(loads) * (len(live) - len(loads))) / max(1, slots)
    predicted = load * (len(live) + 1) / len(live)
    if predicted <= rule.max_load:
        return None
    return (
        f"at capacity: one more stream would need {predicted:.0%} of the speech model "
        f"(limit {rule.max_load:.0%}); retry elsewhere or later"
    )
