"""What the decode at a pause hears of the utterance before (core/context.py)."""

from __future__ import annotations

import numpy as np
from scripted import ramp, sentence_words

from livetrans.core.context import PreviousUtterance
from livetrans.types import SAMPLE_RATE, Word


def kept(words: list[Word], end: float) -> PreviousUtterance:
    """An utterance from 0 s to ``end`` with ``words``, ended with 0.5 s of VAD silence in it."""
    previous = PreviousUtterance(pause=1.0, seconds=8.0, max_window=16.0, silent_at_end=0.5)
    previous.keep([ramp(end)], 0.0, words, "es")
    return previous


def test_the_window_after_a_short_pause_hears_the_utterance_before():
    words = sentence_words("Las arenas son blanquecinas", 0.2)
    previous = kept(words, 2.0)
    previous.silence(ramp(0.3, start=2.0))
    context = previous.before(2.1, 3.5, "es")
    assert context is not None
    assert context.words == tuple(words) and context.start == 0.0
    assert np.array_equal(context.audio, ramp(2.1))  # up to where the window starts


def test_a_long_pause_another_language_or_a_gap_means_no_context():
    words = sentence_words("Las arenas son blanquecinas", 0.2)
    long_pause = kept(words, 2.0)
    long_pause.silence(ramp(0.6, start=2.0))  # 0.5 s in it + 0.6 s: over 1 s
    assert long_pause.before(2.5, 4.0, "es") is None
    assert kept(words, 2.0).before(1.9, 3.5, "en") is None
    assert kept(words, 2.0).before(2.4, 3.5, "es") is None  # audio missing in between
    assert kept([], 2.0).before(1.9, 3.5, "es") is None  # nothing in it became final


def test_only_the_last_seconds_are_heard_again():
    words = sentence_words("uno dos tres cuatro cinco seis siete ocho nueve diez", 0.0, seconds_per_word=1.0)
    previous = kept(words, 10.0)
    context = previous.before(9.9, 14.0, "es")
    assert context is not None
    heard = [w.text.strip() for w in context.words]
    assert heard == ["tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez"]
    assert context.start == words[1].end  # cut where the last word left out ends
    assert len(context.audio) == round((9.9 - context.start) * SAMPLE_RATE)


def test_a_window_cut_inside_the_utterance_is_heard_again_with_the_part_before():
    """The recogniser cuts its window at a final word during long speech; the part cut
    off is added to what is kept, so the decode at the pause hears it too."""
    words = sentence_words("uno dos tres cuatro cinco seis", 0.0, seconds_per_word=1.0)
    previous = PreviousUtterance(pause=1.0, seconds=8.0, max_window=16.0, silent_at_end=0.5)
    previous.extend([ramp(3.0)], 0.0, words[:3], "es")  # cut at 3 s
    previous.extend([ramp(2.5, start=3.0)], 3.0, words[3:5], "es")  # cut again at 5.5 s
    context = previous.before(5.5, 7.0, "es")
    assert context is not None and context.start == 0.0
    assert [w.text.strip() for w in context.words] == ["uno", "dos", "tres", "cuatro", "cinco"]
    assert np.array_equal(context.audio, ramp(5.5))
    previous.extend([ramp(1.0, start=9.0)], 9.0, words[5:], "es")  # does not follow on
    context = previous.before(10.0, 11.0, "es")
    assert context is not None and [w.text.strip() for w in context.words] == ["seis"]


def test_what_is_kept_of_one_long_utterance_stays_bounded():
    words = sentence_words(" ".join(["palabra"] * 40), 0.0, seconds_per_word=1.0)
    previous = PreviousUtterance(pause=1.0, seconds=8.0, max_window=16.0, silent_at_end=0.5)
    for i in range(0, 40, 2):  # the window cut every two words
        previous.extend([ramp(2.0, start=float(i))], float(i), words[i : i + 2], "es")
    context = previous.before(40.0, 41.0, "es")
    assert context is not None and len(context.words) == 8  # the last 8 s
    assert previous.kept_seconds <= 16.0 + 1.0
