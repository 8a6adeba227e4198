"""One decode of the window both ways (core/exchange.py): the request it sends, and
the words taken from the hypothesis that answers it, on hand-made words."""

from __future__ import annotations

from scripted import ramp, sentence_words

from livetrans.core.context import Context
from livetrans.core.decoding import Hypothesis
from livetrans.core.exchange import DecodeExchange
from livetrans.core.guards import GuardOptions
from livetrans.core.language import LanguageVote
from livetrans.core.schedule import DecodeSchedule, ScheduleOptions
from livetrans.core.stabilizer import join_words
from livetrans.core.vocabulary import parse_vocabulary
from livetrans.core.window import DecodeWindow, WindowOptions
from livetrans.types import Word

SHOW = parse_vocabulary(["Dyson"])


def exchange(language: str | None) -> tuple[DecodeExchange, DecodeWindow]:
    """An exchange for a window opened at 10 s, in a settled ``language`` (None: voted on)."""
    window = DecodeWindow(WindowOptions(), silent_at_end=0.5)
    window.open([ramp(3.0, start=10.0)], 10.0)
    languages = LanguageVote(fixed=language)
    schedule = DecodeSchedule(ScheduleOptions(beam=3, final_beam=5))
    return DecodeExchange(window, languages, schedule, guards=GuardOptions(), everyday=frozenset()), window


def hypothesis(words: list[Word]) -> Hypothesis:
    return Hypothesis((), tuple(words), "en", 0.9, 0.01, -0.2, 1.2)


def test_a_request_before_the_language_is_settled_detects_it_with_no_prompt():
    ex, window = exchange(None)
    window.commit(sentence_words("ask not", 10.0))
    request = ex.request(window.audio(), SHOW, final=False)
    assert (request.language, request.prompt, request.prefix, request.beam_size) == (None, "", " ask not", 3)


def test_a_request_in_the_settled_language_is_prompted_with_the_vocabulary():
    ex, window = exchange("en")
    request = ex.request(window.audio(), SHOW, final=True)
    assert request.language == "en" and "Dyson" in request.prompt and request.beam_size == 5


def test_a_request_with_context_hears_it_first_and_forces_its_words_before_the_windows():
    ex, window = exchange("en")
    window.commit(sentence_words("what", 10.0))
    before = tuple(sentence_words("ask not", 8.0))
    window.history.remember(before, "en")
    context = Context(ramp(2.0, start=8.0), 8.0, before)
    request = ex.request(window.audio(), SHOW, final=True, context=context)
    assert request.seconds == 5.0 and request.audio[0] == ramp(0.1, start=8.0)[0]
    assert request.prefix == " ask not what"
    assert "ask not" not in request.prompt  # the context's words are forced, not prompted


def test_the_words_taken_are_in_stream_time_and_respelt():
    ex, _ = exchange("en")
    heard = [Word(0.2, 0.5, " the", 0.9), Word(0.6, 0.8, " Dy", 0.9), Word(0.8, 1.1, " son", 0.9)]
    words = ex.words(hypothesis(heard), 3.0, SHOW)
    assert join_words(words) == "the Dyson"
    assert (words[0].start, words[-1].end) == (10.2, 11.1)
    assert ex.words(hypothesis(heard), 3.0, SHOW, start=20.0)[0].start == 20.2
