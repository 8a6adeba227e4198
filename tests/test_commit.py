"""The commit policy (core/commit.py): which decoded words become final, on
hand-made hypotheses."""

from __future__ import annotations

from livetrans.core.commit import CommitOptions, CommitPolicy
from livetrans.core.stabilizer import join_words
from livetrans.types import Word

MIN_AVG_LOGPROB = -1.0


def ws(text: str) -> list[Word]:
    return [Word(i * 0.4, i * 0.4 + 0.3, " " + t) for i, t in enumerate(text.split())]


def policy(**options) -> CommitPolicy:
    """A policy with agreement alone, unless a test asks for settling."""
    options.setdefault("settle_after", None)
    return CommitPolicy(CommitOptions(**options), min_avg_logprob=MIN_AVG_LOGPROB, max_window=18.0)


def decide(p: CommitPolicy, text: str | list[Word], *, avg_logprob=-0.2, final=False, provisional=False,
           believable=True, has_finals=True, seconds=5.0, end=5.0, begins_term=None):
    words = ws(text) if isinstance(text, str) else text
    final_words, tentative = p.decide(
        words, avg_logprob=avg_logprob, final=final, provisional=provisional,
        believable=believable, has_finals=has_finals, seconds=seconds, end=end, begins_term=begins_term,
    )
    return join_words(final_words), join_words(tentative)


def sure(text: str, *unsure: str) -> list[Word]:
    """Words as ws() places them, probability 0.95, or 0.5 for those in ``unsure``."""
    return [Word(w.start, w.end, w.text, 0.5 if w.text.strip() in unsure else 0.95) for w in ws(text)]


def test_two_agreeing_decodes_make_their_common_start_final():
    p = policy()
    assert decide(p, "buy two and") == ("", "buy two and")
    assert decide(p, "buy two and get") == ("buy two and", "get")


def test_low_confidence_decode_neither_confirms_nor_contradicts():
    """Decodes that lost their way (average log-probability below the guards'
    threshold) agree on what they invent as readily as on what was said: such a
    decode leaves the agreement as it was, and the partial shows the last good one."""
    p = policy()
    decide(p, "the sand was")
    assert decide(p, "the soil was", avg_logprob=-1.5) == ("", "the sand was")
    assert decide(p, "the soil was white", avg_logprob=-1.5) == ("", "the sand was")
    assert decide(p, "the sand was white") == ("the sand was", "white")


def test_nothing_in_a_short_first_window_becomes_final_but_it_confirms_a_longer_one():
    p = policy(first_final_window=2.0)
    assert decide(p, "however due", has_finals=False, seconds=1.5) == ("", "however due")
    assert decide(p, "however due to", has_finals=False, seconds=1.9) == ("", "however due to")
    assert decide(p, "however due to the", has_finals=False, seconds=2.4) == ("however due to", "the")


def test_while_the_language_is_unsettled_nothing_is_final_and_only_believable_words_show():
    p = policy()
    assert decide(p, "hola a todos", provisional=True) == ("", "hola a todos")
    assert decide(p, "hola a todos", provisional=True, believable=False) == ("", "")
    assert decide(p, "hola a todos amigos") == ("", "hola a todos amigos")  # the provisional ones did not count


def test_at_a_pause_everything_decoded_is_final():
    p = policy()
    decide(p, "ask not")
    assert decide(p, "ask what you can", final=True) == ("ask what you can", "")


def test_a_long_window_with_nothing_ever_agreed_on_takes_the_latest_decode():
    p = policy()
    decide(p, "one two", has_finals=False, seconds=18.5)
    assert decide(p, "three four", has_finals=False, seconds=19.0) == ("three four", "")


def settling() -> CommitPolicy:
    """A policy that settles, after a first decode of "buy" (0.0-0.3 s) that commits
    nothing: the window's audio ended at 0.4 s."""
    p = policy(settle_after=0.3, settle_probability=0.8)
    assert decide(p, sure("buy"), end=0.4) == ("", "buy")
    return p


def test_a_sure_word_with_audio_after_it_is_final_after_one_decode():
    """On a busy machine decodes come seldom: a word the decoder is sure of, well before
    the end of the audio it heard, does not wait a decode more for agreement."""
    p = settling()
    # Words end at 0.3, 0.7, 1.1, 1.5 s; the window's audio ends at 1.7 s. "buy" is
    # agreed on, "two and" settle, "get" is too close to the end.
    assert decide(p, sure("buy two and get"), end=1.7) == ("buy two and", "get")


def test_the_first_decode_after_a_reset_settles_nothing():
    """A new window or a language just settled: the decode's words wait for the next."""
    p = policy(settle_after=0.3, settle_probability=0.8)
    assert decide(p, sure("buy two and get"), end=3.0) == ("", "buy two and get")
    assert decide(p, sure("buy two and get one"), end=3.0) == ("buy two and get one", "")


def test_an_unsure_word_and_the_words_after_it_wait_for_agreement():
    p = settling()
    assert decide(p, sure("buy two and get", "two"), end=3.0) == ("buy", "two and get")
    assert decide(p, sure("two and get one", "two"), end=1.7) == ("two and get", "one")


def test_a_sentence_end_waits_for_the_next_decode():
    """Whisper ends a window cut mid-sentence with a full stop; the next decode says
    whether the sentence really ended there."""
    p = settling()
    assert decide(p, sure("buy two. and"), end=3.0) == ("buy", "two. and")
    assert decide(p, sure("two. and get"), end=1.3) == ("two. and", "get")


def test_after_settling_the_next_decode_is_compared_with_the_rest():
    p = settling()
    assert decide(p, sure("buy two and get", "get"), end=1.6) == ("buy two and", "get")
    assert decide(p, sure("got one", "got", "one"), end=2.0) == ("", "got one")
    assert decide(p, sure("got one more", "got", "one", "more"), end=2.0) == ("got one", "more")


def test_settling_is_off_without_a_margin():
    p = policy(settle_after=None)
    assert decide(p, sure("buy"), end=0.4) == ("", "buy")
    assert decide(p, sure("buy two and get"), end=9.0) == ("buy", "two and get")


def test_a_word_that_could_begin_a_vocabulary_term_waits_for_agreement():
    """A name heard in pieces ("the" of "Theragun"): the next decode, hearing all of
    it, may write it whole, so its first piece and the words after it are not settled."""
    p = settling()
    begins = {" the"}.__contains__
    assert decide(p, sure("buy the rag one"), end=3.0, begins_term=begins) == ("buy", "the rag one")
    assert decide(p, sure("Theragun Mini now"), end=1.3, begins_term=begins) == ("Theragun Mini", "now")
