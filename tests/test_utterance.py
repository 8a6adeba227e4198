"""Utterance tracking (core/utterance.py): pre-roll, the hold of short sounds, and
the pause that closes a sentence."""

from __future__ import annotations

import numpy as np

from livetrans.core.utterance import UtteranceOptions, UtteranceTracker
from livetrans.types import SAMPLE_RATE, VAD_FRAME_SAMPLES

FRAME_SECONDS = VAD_FRAME_SAMPLES / SAMPLE_RATE


def feed(tracker: UtteranceTracker, probabilities: list[float]) -> tuple[list, list]:
    """Frames through the tracker as a recogniser feeds them; returns the transitions
    and each utterance's audio, the one at the end unfinished."""
    tracker.take(np.arange(len(probabilities) * VAD_FRAME_SAMPLES, dtype=np.float32))
    transitions, utterances = [], []
    for p in probabilities:
        frame, transition = tracker.frame(p)
        if transition == "start":
            preroll, _ = tracker.start()
            utterances.append(list(preroll))
        if tracker.active or transition == "end":
            utterances[-1].append(frame)
        else:
            tracker.keep(frame)
        tracker.framed()
        if transition == "end":
            tracker.end(utterances[-1], decoded=tracker.gate.enough_speech)
        transitions.append(transition)
    return transitions, utterances


def frames(seconds: float) -> int:
    return round(seconds / FRAME_SECONDS)


def test_an_utterance_starts_with_the_preroll_before_its_first_speech_frame():
    tracker = UtteranceTracker(UtteranceOptions())
    _, utterances = feed(tracker, [0.0] * 50 + [0.9] * 10)
    first = utterances[0][0]
    assert len(utterances[0]) == frames(0.3) + 10 and first[0] == (50 - frames(0.3)) * VAD_FRAME_SAMPLES


def test_a_sound_too_short_to_decode_is_held_for_the_utterance_that_follows_soon():
    silence_after = frames(0.5)  # the VAD's end of an utterance
    short = [0.9] * 3 + [0.0] * silence_after
    tracker = UtteranceTracker(UtteranceOptions(blip_hold=1.0))
    feed(tracker, [0.0] * 20 + short + [0.0] * frames(0.4) + [0.9] * 10)
    assert tracker.held and tracker.held[0][0] <= 20 * VAD_FRAME_SAMPLES
    assert tracker.take_held() is not None and tracker.take_held() is None  # handed over once


def test_a_sound_long_before_the_next_utterance_is_not_held():
    short = [0.9] * 3 + [0.0] * frames(0.5)
    tracker = UtteranceTracker(UtteranceOptions(blip_hold=1.0))
    feed(tracker, [0.0] * 20 + short + [0.0] * frames(1.5) + [0.9] * 10)
    assert tracker.held == []


def test_a_pause_closes_the_open_sentence_only_once_it_is_long_enough():
    tracker = UtteranceTracker(UtteranceOptions(pause_closes_sentence=1.5))
    feed(tracker, [0.0] * frames(3.0))  # the next utterance would start at 3 s
    assert tracker.closes_sentence(1.5) and not tracker.closes_sentence(1.6)
    assert not tracker.closes_sentence(None)  # no sentence open
