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
    return CommitPolicy(CommitOptions(**options), min_avg_logprob=MIN_AVG_LOGPROB, max_window=18.0)


def decide(p: CommitPolicy, text: str, *, avg_logprob=-0.2, final=False, provisional=False,
           believable=True, has_finals=True, seconds=5.0):
    final_words, tentative = p.decide(
        ws(text), avg_logprob=avg_logprob, final=final, provisional=provisional,
        believable=believable, has_finals=has_finals, seconds=seconds,
    )
    return join_words(final_words), join_words(tentative)


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
