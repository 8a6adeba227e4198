"""The live captions (core/captions.py): decided words as final and partial caption
events, on hand-made words."""

from __future__ import annotations

from scripted import ramp, sentence_words

from livetrans.core.captions import LiveCaptions
from livetrans.core.segmenter import SentenceSegmenter
from livetrans.core.window import DecodeWindow, WindowOptions
from livetrans.types import CaptionEvent


def captions() -> tuple[LiveCaptions, DecodeWindow]:
    window = DecodeWindow(WindowOptions(), silent_at_end=0.5)
    window.open([ramp(4.0, start=2.0)], 2.0)
    return LiveCaptions(SentenceSegmenter(), window), window


def test_finals_come_first_and_join_the_window_then_the_partial_announces_the_next_caption():
    live, window = captions()
    words = sentence_words("ask not what", 2.0)
    events = live.take(words[:2], words[2:], "en")
    assert [(e.kind, e.id, e.text) for e in events if isinstance(e, CaptionEvent)] == [
        ("final", "c1", "Ask not"),
        ("partial", "c2", "what"),
    ]
    assert window.finals == words[:2]  # as decoded: the capital is the caption's alone


def test_an_unchanged_partial_is_not_sent_again_and_a_cleared_one_sits_where_the_finals_end():
    live, window = captions()
    words = sentence_words("ask not what", 2.0)
    live.take(words[:2], words[2:], "en")
    assert live.partial(words[2:], "en") == []
    [cleared] = live.partial([], "en")
    assert cleared.text == "" and cleared.start == cleared.end == window.final_end == words[1].end
