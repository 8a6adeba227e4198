"""The decode window (core/window.py): trimmed, cut and restarted on hand-made words."""

from __future__ import annotations

import itertools

import numpy as np
from scripted import ramp, sentence_words

from livetrans.core.stabilizer import join_words
from livetrans.core.window import DecodeWindow, WindowOptions
from livetrans.types import SAMPLE_RATE, Word


def window_with(words: list[Word], seconds: float, **options) -> DecodeWindow:
    """A window from 0 s holding ``seconds`` of audio with ``words`` final in it."""
    window = DecodeWindow(WindowOptions(**options), silent_at_end=0.5)
    window.open([ramp(seconds)], 0.0)
    window.commit(words)
    return window


def test_a_long_window_is_trimmed_after_its_last_finished_sentence():
    words = sentence_words("One two three. Four five six. Seven", 0.0, seconds_per_word=2.0)
    window = window_with(words, 14.0, trim_after=12.0)
    assert window.trim("en") is False
    assert join_words(window.finals) == "Seven"
    assert window.start == words[5].end
    assert np.array_equal(window.audio(), ramp(14.0 - window.start, start=window.start))
    assert window.history.text_in("en").strip() == "One two three. Four five six."
    assert window.final_text("en").strip() == "One two three. Four five six. Seven"


def test_a_window_past_its_maximum_is_cut_at_its_last_final_word():
    words = sentence_words("one two three four five", 0.0, seconds_per_word=3.0)
    window = window_with(words, 19.0, trim_after=12.0, max_window=18.0)
    window.trim("en")
    assert window.finals == [] and window.start == words[-1].end


def test_a_long_window_with_nothing_final_slides():
    window = window_with([], 19.0, trim_after=12.0, max_window=18.0)
    assert window.trim("en") is True  # its agreement starts again
    assert window.seconds == 12.0


def test_a_stalled_window_restarts_with_its_last_second_of_final_words_as_unforced_context():
    """A word decoded cold, with no speech before it in the window, comes out
    doubtful and is dropped: the restarted window keeps the final words of the last
    ``restart_context`` seconds before the stall as context, not forced."""
    words = sentence_words("We beat the United States.", 0.0, seconds_per_word=0.5)
    window = window_with(words, words[-1].end + 1.2, restart_context=1.0, stall_after=1.0)
    assert window.stalled(window.seconds)
    window.restart("en")
    assert join_words(window.finals) == "United States." and window.forced == []
    assert window.start == words[2].end and not window.stalled(window.seconds)
    # The decoder spells the context again: those words are not final twice.
    heard = [Word(w.start, w.end, w.text.rstrip(".")) for w in words[3:]] + [Word(2.6, 2.9, " As")]
    assert join_words(window.place(heard)) == "As"


def test_words_are_never_placed_before_the_last_final_word():
    window = window_with(sentence_words("ask not", 0.0), 3.0)
    placed = window.place([Word(0.5, 0.9, " what"), Word(0.8, 0.7, " your")])
    assert placed[0].start == window.final_end == window.finals[-1].end
    assert all(a.end <= b.start and b.start <= b.end for a, b in itertools.pairwise(placed))


def test_a_window_that_could_not_be_decoded_is_dropped_and_goes_on_from_its_end():
    window = window_with(sentence_words("ask not", 0.0), 3.0)
    window.drop("en")
    assert window.samples == 0 and window.start == 3.0 and window.finals == []
    assert window.final_end == 3.0  # with no final words, where the window starts
    assert window.history.text_in("en").strip() == "ask not"
    window.append(ramp(0.5, start=3.0))
    assert window.seconds == 0.5 and len(window.audio()) == SAMPLE_RATE // 2
