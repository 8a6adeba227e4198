"""LocalAgreement and the hallucination guards, on hand-made hypotheses."""

from dataclasses import replace

import pytest

from livetrans.core.stabilizer import (
    LocalAgreementStabilizer,
    agreement_key,
    drop_echo,
    is_phantom,
    join_words,
    trim_repetition,
    word_key,
)
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


@pytest.mark.parametrize(
    "text, expected",
    [
        ("la la la la la la", "la la"),
        ("I said go go go go now", "I said go go"),
        ("buy now buy now buy now buy now", "buy now buy now"),
        ("an ordinary sentence without loops", "an ordinary sentence without loops"),
        ("very very good", "very very good"),
    ],
)
def test_repetition_loops_are_cut(text, expected):
    assert join_words(trim_repetition(ws(text))) == expected


@pytest.mark.parametrize(
    "text, doubtful, phantom",
    [
        ("Subtitles by the Amara.org community", False, True),
        ("Thanks for watching!", True, True),
        ("Thanks for watching!", False, False),  # a host may really say it
        ("Thank you.", True, True),
        ("Thank you for the great question", True, False),
        ("请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", False, True),
    ],
)
def test_phantom_phrases(text, doubtful, phantom):
    assert is_phantom([Word(0, 1, text)], doubtful=doubtful) is phantom


def test_a_doubtful_copy_of_the_final_text_and_its_repeats_are_dropped():
    # The decoder echoed its prompt instead of the audio, a restaurant at 10 dB
    # behind an Italian speaker; the echo grew surer with each repeat.
    before = "Sempre la radio, non c'è alcuni sui canzoni."
    echo = ws("Non c 'è alcuni sui canzoni, non c 'è alcuni sui canzoni.",
              probabilities=[0.0, 0.02, 0.77, 0.19, 0.15, 0.13, 0.14, 0.29, 0.93, 0.5, 0.47, 0.74])
    assert drop_echo(echo, before) == []
    # What follows the echo is kept, and so is text that repeats nothing.
    then = echo[:6] + ws("o meglio ritmi.", probabilities=[0.6, 0.9, 0.8])
    assert join_words(drop_echo(then, before)) == "o meglio ritmi."
    fresh = ws("o meglio ritmi.", probabilities=[0.3, 0.3, 0.3])
    assert drop_echo(fresh, before) == fresh


@pytest.mark.parametrize(
    "before, text, probabilities",
    [
        ("Three, two, one, link!", "Three, two, one, link!", [0.9, 0.95, 0.97, 0.8]),  # said again, heard clearly
        ("It was the first great sorrow of his life.", "life. It", [0.1, 0.2]),  # one word of the text
        ("We are glad", "glad to", [0.1, 0.2]),  # "glad to" is not the end of the text
    ],
)
def test_what_is_not_a_doubtful_copy_is_kept(before, text, probabilities):
    words = ws(text, probabilities=probabilities)
    assert drop_echo(words, before) == words


def test_word_key_ignores_case_space_and_punctuation():
    assert word_key(" Hello,") == word_key("hello") == "hello"
    assert word_key("广州。") == "广州"
