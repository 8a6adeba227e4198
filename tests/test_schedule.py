"""The decode schedule (core/schedule.py): when the window is decoded, how wide."""

from livetrans.core.schedule import MIN_DECODE_WINDOW, DecodeSchedule, ScheduleOptions
from livetrans.types import SAMPLE_RATE


def test_a_decode_is_due_after_each_step_of_new_speech_once_the_window_is_long_enough():
    s = DecodeSchedule(ScheduleOptions(step=0.5))
    window = int(MIN_DECODE_WINDOW * SAMPLE_RATE)
    assert s.due(enough_speech=True, window_samples=window, undecoded_samples=SAMPLE_RATE // 2)
    assert not s.due(enough_speech=True, window_samples=window, undecoded_samples=SAMPLE_RATE // 4)
    assert not s.due(enough_speech=True, window_samples=window - 1, undecoded_samples=window - 1)
    assert not s.due(enough_speech=False, window_samples=4 * window, undecoded_samples=window)


def test_the_decode_at_a_pause_never_searches_narrower_than_the_running_ones():
    assert DecodeSchedule(ScheduleOptions(beam=3, final_beam=5)).beam_size(final=True) == 5
    assert DecodeSchedule(ScheduleOptions(beam=3, final_beam=5)).beam_size(final=False) == 3
    assert DecodeSchedule(ScheduleOptions(beam=5, final_beam=3)).beam_size(final=True) == 5
