"""A stream's real-time factor as its load on the speech model: the higher of the whole
stream's and the last minute's, so a stream that opens with minutes of silence or music
counts as busy once its host talks."""

from __future__ import annotations

import numpy as np
import pytest
from server_testkit import INGEST_MODEL, speech_models  # noqa: F401
from speech_testkit import SAMPLES

from livetrans.pipeline import SpeechModels
from livetrans.realtime import LOAD_WINDOW, RealTimeFactor
from livetrans.scheduling import RecognitionScheduler, VirtualClock
from livetrans.server.admission import AdmissionRule, refusal
from livetrans.sources import load_audio
from livetrans.types import SAMPLE_RATE, AudioChunk


def test_a_stream_that_opens_with_a_long_silence_counts_its_speech_as_its_load() -> None:
    factor = RealTimeFactor(window=60.0)
    for _ in range(600):  # ten minutes of music the voice gate keeps from the model
        factor.add(1.0, 0.001)
    for _ in range(60):  # then a minute of talk at 0.7
        factor.add(1.0, 0.7)
    assert factor.whole == pytest.approx((0.6 + 42.0) / 660)
    assert factor.recent == pytest.approx(0.7)
    assert factor.load == pytest.approx(0.7)


def test_a_pause_in_the_talk_does_not_make_a_stream_count_as_idle() -> None:
    factor = RealTimeFactor(window=60.0)
    for _ in range(120):
        factor.add(1.0, 0.6)
    for _ in range(90):  # a pause longer than the window
        factor.add(1.0, 0.0)
    assert factor.recent == 0.0
    assert factor.load == factor.whole == pytest.approx(72.0 / 210)


def test_a_stream_shorter_than_the_window_has_its_whole_factor_and_calls_are_never_cut() -> None:
    factor = RealTimeFactor(window=60.0)
    assert factor.load == factor.whole == factor.recent == 0.0
    factor.add(2.0, 1.0)
    factor.add(2.0, 0.2)
    assert factor.recent == factor.whole == pytest.approx(0.3)
    factor.add(100.0, 10.0)  # one call longer than the window: counted whole
    assert factor.recent == pytest.approx(0.1)
    factor.add(30.0, 6.0)  # the window now starts inside the long call: it counts from its start
    assert factor.recent == pytest.approx(16.0 / 130.0)
    with pytest.raises(ValueError, match="positive"):
        RealTimeFactor(window=0)


def test_the_real_recogniser_after_minutes_of_silence_is_refused_room_by_its_speech(
    speech_models: SpeechModels,  # noqa: F811
) -> None:
    """Three minutes of silence, then speech, through the real VAD and tiny.en: the
    load is the speech's, and a second stream that the whole-stream factor would admit
    is refused."""
    scheduler = RecognitionScheduler(speech_models.recognizer(INGEST_MODEL.recognizer_options()), VirtualClock())
    speech = np.concatenate([load_audio(SAMPLES / "speech" / "en" / "jfk_inaugural_1961.flac")] * 3)
    audio = np.concatenate([np.zeros(180 * SAMPLE_RATE, np.float32), speech])
    step = SAMPLE_RATE // 2
    for start in range(0, len(audio), step):
        scheduler.recognise(AudioChunk(audio[start : start + step], start / SAMPLE_RATE))
    factor = scheduler.factor
    assert factor.audio_seconds == pytest.approx(len(audio) / SAMPLE_RATE)
    assert factor.compute_seconds == pytest.approx(scheduler.compute_seconds)
    assert len(speech) / SAMPLE_RATE < LOAD_WINDOW
    assert factor.load == factor.recent > 2.5 * factor.whole > 0

    class Stream:
        name, live, audio_seconds = "first", True, factor.audio_seconds
        realtime_factor = factor.load

    rule = AdmissionRule(max_load=3 * factor.whole)  # two streams by the whole factor: 2 x whole
    assert refusal([Stream()], rule) is not None
