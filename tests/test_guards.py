"""The hallucination guards (core/guards.py), each on hand-made decodes."""

from dataclasses import replace

import pytest

from livetrans.core.guards import (
    OFFLINE_FILTERS,
    STREAMING_FILTERS,
    Candidate,
    GuardOptions,
    apply_guards,
    drop_echo,
    heard_speech,
    is_phantom,
    trim_repetition,
)
from livetrans.core.stabilizer import join_words
from livetrans.types import Word


def ws(text: str, start: float = 0.0, probabilities: list[float] | None = None) -> list[Word]:
    words = [Word(start + i, start + i + 0.5, " " + t) for i, t in enumerate(text.split())]
    if probabilities is None:
        return words
    return [replace(w, probability=p) for w, p in zip(words, probabilities, strict=True)]


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
    # Unsure of the copy at first, surer with each repeat (an Italian speaker with
    # a restaurant 10 dB below).
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




def candidate(text: str, *, probabilities=None, no_speech=0.01, avg_logprob=-0.2, ratio=1.2, seconds=10.0, **kw):
    return Candidate(tuple(ws(text, probabilities=probabilities)), no_speech, avg_logprob, ratio, seconds, "en", **kw)


def test_the_streaming_guards_run_in_order_and_the_offline_path_shares_them():
    names = [f.name for f in STREAMING_FILTERS]
    assert names == ["loop", "no-speech", "padding", "repetition", "prompt echo", "phantom"]
    streaming = {type(f) for f in STREAMING_FILTERS}
    assert {type(f) for f in OFFLINE_FILTERS} <= streaming


def test_a_repetition_loop_drops_the_whole_decode():
    assert apply_guards(candidate("la la la", ratio=2.5), GuardOptions()) == ()
    assert apply_guards(candidate("la la la", ratio=2.5), GuardOptions(max_compression_ratio=3.0)) != ()


def test_a_confident_sign_off_on_noise_is_dropped_when_the_model_doubted_speech():
    """Whisper's own no-speech test lets crowd babble through as a confident "Thank
    you."; a decode somewhat likely to be no speech and unsure of its words is dropped."""
    options = GuardOptions()
    babble = candidate("Thank you.", probabilities=[0.3, 0.4], no_speech=0.3, avg_logprob=-0.8)
    assert apply_guards(babble, options) == ()
    assert not heard_speech(0.3, -0.8, [0.3, 0.4], options)
    assert heard_speech(0.3, -0.3, [0.9, 0.9], options)  # sure of its words
    assert not heard_speech(0.6, -0.1, [0.99], options)  # likely no speech at all


def test_words_in_the_padding_after_the_audio_go_and_word_ends_stop_at_its_end():
    words = apply_guards(candidate("ask not what", seconds=2.04), GuardOptions())
    assert join_words(words) == "ask not"  # "what" starts 40 ms before the end
    assert words[-1].end == 1.5
    clipped = apply_guards(candidate("ask not", seconds=1.3), GuardOptions())
    assert clipped[-1].end == 1.3


def test_a_phantom_phrase_is_dropped_only_where_it_would_open_the_window():
    doubtful = {"no_speech": 0.25}
    assert apply_guards(candidate("Thanks for watching!", **doubtful), GuardOptions()) == ()
    later = candidate("Thanks for watching!", opens_window=False, **doubtful)
    assert join_words(apply_guards(later, GuardOptions())) == "Thanks for watching!"


def test_a_doubtful_echo_of_the_final_text_before_is_dropped_by_the_guards():
    echo = candidate("canzoni. Poi", probabilities=[0.1, 0.9], final_text="non c'è alcuni sui canzoni.")
    assert join_words(apply_guards(echo, GuardOptions())) == "canzoni. Poi"  # one word is not a copy
    echo = candidate("sui canzoni. Poi", probabilities=[0.1, 0.1, 0.9], final_text="non c'è alcuni sui canzoni.")
    assert join_words(apply_guards(echo, GuardOptions())) == "Poi"
