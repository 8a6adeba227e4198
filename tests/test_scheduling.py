"""Recognition scheduling on a virtual clock: catching up (all audio that arrived
while the recogniser was busy goes in one push), model time charged to the clock,
watermarks. The recogniser is the real StreamingRecognizer on scripted speech."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import pytest
from scripted import ScriptedDecoder, ScriptedVad, chunks, recognizer, sentence_words

from livetrans.core.recognizer_options import RecognizerOptions
from livetrans.scheduling import RecognitionScheduler, VirtualClock
from livetrans.types import AudioChunk, CaptionEvent, Event, WatermarkEvent

SPEECH = sentence_words("Welcome to the show. Today we have a great offer for you.", 0.5)


class Pushes:
    """The real recogniser, with a record of each push's (start, seconds)."""

    def __init__(self) -> None:
        speech = ((0.4, SPEECH[-1].end + 0.1),)
        self.inner = recognizer(ScriptedDecoder(SPEECH), ScriptedVad(speech), RecognizerOptions(language="en"))
        self.pushes: list[tuple[float, float]] = []

    @property
    def settled_until(self) -> float:
        return self.inner.settled_until

    def push(self, chunk: AudioChunk) -> Sequence[Event]:
        self.pushes.append((round(chunk.start, 3), round(chunk.duration, 3)))
        return self.inner.push(chunk)

    def flush(self) -> Sequence[Event]:
        return self.inner.flush()


def drive(cost: float, seconds: float, watermarks: float | None = None) -> tuple[Pushes, list[Event], VirtualClock]:
    """As the virtual replay does: idle until the next chunk, then push all that arrived."""
    recognizer, clock = Pushes(), VirtualClock()
    scheduler = RecognitionScheduler(recognizer, clock, watermark_interval=watermarks, cost=lambda _: cost)
    events: list[Event] = []
    audio = chunks(seconds)
    i = 0
    while i < len(audio):
        clock.advance_to(audio[i].end)
        while i < len(audio) and audio[i].end <= clock.now() + 1e-9:
            scheduler.offer(audio[i])
            i += 1
        batch = scheduler.take()
        assert batch is not None and scheduler.take() is None
        events += scheduler.recognise(batch) + scheduler.watermarks()
    scheduler.audio_ended = True
    events += scheduler.finish() + scheduler.watermarks(final=True)
    assert scheduler.audio_seconds == pytest.approx(seconds)
    assert scheduler.compute_seconds > 0
    return recognizer, events, clock


def test_a_fast_recogniser_gets_each_chunk_as_it_comes() -> None:
    recognizer, _, clock = drive(cost=0.05, seconds=2.0)
    assert recognizer.pushes == [(round(0.1 * k, 3), 0.1) for k in range(20)]
    assert clock.now() == pytest.approx(2.0 + 0.05 + 0.05)  # idle until 2.0, then the last push and the flush


def test_a_slow_recogniser_catches_up_with_all_the_audio_that_came_meanwhile() -> None:
    recognizer, events, _ = drive(cost=0.35, seconds=3.0)
    # A call costs 0.35 s: the next push holds the 3 or 4 chunks that arrived meanwhile.
    assert recognizer.pushes[:4] == [(0.0, 0.1), (0.1, 0.3), (0.4, 0.4), (0.8, 0.3)]
    starts = [start for start, _ in recognizer.pushes]
    ends = [start + seconds for start, seconds in recognizer.pushes]
    assert starts[1:] == pytest.approx(ends[:-1]) and ends[-1] == pytest.approx(3.0)  # no gap, no overlap
    assert any(isinstance(e, CaptionEvent) and e.kind == "final" for e in events)


def test_watermarks_advance_by_the_interval_and_end_at_the_audio_end() -> None:
    _, events, _ = drive(cost=0.05, seconds=7.0, watermarks=0.5)
    times = [e.time for e in events if isinstance(e, WatermarkEvent)]
    assert times and times == sorted(times) and times[-1] == 7.0
    assert all(b - a >= 0.5 for a, b in pairwise(times[:-1]))
