"""LocalAgreement, on hand-made hypotheses (the commit policy around it: test_commit.py)."""

from dataclasses import replace

from livetrans.core.stabilizer import LocalAgreementStabilizer, agreement_key, join_words, word_key
from livetrans.types import Word


def ws(text: str, start: float = 0.0, probabilities: list[float] | None = None) -> list[Word]:
    words = [Word(start + i, start + i + 0.5, " " + t) for i, t in enumerate(text.split())]
    if probabilities is None:
        return words
    return [replace(w, probability=p) for w, p in zip(words, probabilities, strict=True)]


def test_first_hypothesis_commits_nothing():
    s = LocalAgreementStabilizer(2)
    final, tentative = s.update(ws("hello world"))
    assert final == [] and join_words(tentative) == "hello world"


def test_agreeing_prefix_of_two_hypotheses_becomes_final():
    s = LocalAgreementStabilizer(2)
    s.update(ws("the cat sat"))
    final, tentative = s.update(ws("the cat sit on"))
    assert join_words(final) == "the cat"
    assert join_words(tentative) == "sit on"


def test_a_held_hypothesis_confirms_the_next_but_commits_nothing_itself():
    s = LocalAgreementStabilizer(2)
    s.hold(ws("how were"))
    s.hold(ws("how were did"))  # agrees with the one before, but only held
    final, tentative = s.update(ws("how were did the"))
    assert join_words(final) == "how were did"  # nothing was committed before
    assert join_words(tentative) == "the"


def test_committed_words_are_not_committed_twice():
    s = LocalAgreementStabilizer(2)
    s.update(ws("a b c"))
    s.update(ws("a b c d"))  # commits a b c
    final, tentative = s.update(ws("d e"))
    assert join_words(final) == "d"
    assert join_words(tentative) == "e"


def test_case_and_punctuation_inside_a_sentence_do_not_block_agreement():
    s = LocalAgreementStabilizer(2)
    s.update(ws("Hello, world"))
    final, _ = s.update(ws("hello world again"))
    assert join_words(final) == "hello world"


def test_sentence_end_must_be_confirmed_like_a_word():
    s = LocalAgreementStabilizer(2)
    s.update(ws("ask not!"))
    final, tentative = s.update(ws("ask not what"))
    assert join_words(final) == "ask"
    assert agreement_key(" not!") != agreement_key(" not")


def test_flush_makes_the_latest_hypothesis_final():
    s = LocalAgreementStabilizer(2)
    s.update(ws("one two"))
    assert join_words(s.flush()) == "one two"
    assert s.tentative == []


def test_word_key_ignores_case_space_and_punctuation():
    assert word_key(" Hello,") == word_key("hello") == "hello"
    assert word_key("广州。") == "广州"
