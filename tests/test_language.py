"""Settling an utterance's language from the detections of its decodes (no models)."""

from __future__ import annotations

from livetrans.core.language import LanguageDecode, LanguageOptions, LanguageVote, rival_wins


def after(previous: str) -> LanguageVote:
    """A vote for the utterance after one settled in ``previous``."""
    vote = LanguageVote()
    vote.settle(previous)
    vote.new_utterance(keep=False)
    return vote


def test_no_detection_on_a_short_window_settles_it_however_sure():
    vote = LanguageVote()
    assert vote.vote((("ar", 0.94), ("es", 0.05)), 1.0, final=False) is None
    assert not vote.settled
    assert vote.vote((("es", 0.97), ("ar", 0.02)), 1.5, final=False) == "es"


def test_a_confident_repeat_of_the_previous_language_settles_it():
    vote = after("en")
    assert vote.vote((("en", 0.6), ("fr", 0.4)), 1.5, final=False) == "en"  # 0.75 with continuity
    fresh = LanguageVote()
    assert fresh.vote((("en", 0.6), ("fr", 0.4)), 1.5, final=False) is None


def test_the_previous_language_outweighs_a_narrow_detection_of_another():
    vote = after("es")
    assert vote.vote((("ar", 0.5), ("es", 0.4)), 1.6, final=False) is None  # es 0.8 of 1.3
    assert vote.leader == "es"
    assert vote.vote((("ar", 0.5), ("es", 0.4)), 2.1, final=True) == "es"


def test_a_clear_majority_over_a_long_enough_window_settles_it():
    vote = LanguageVote()
    assert vote.vote((("en", 0.7), ("hi", 0.3)), 1.5, final=False) is None
    assert vote.vote((("en", 0.7), ("hi", 0.3)), 2.0, final=False) == "en"
    split = LanguageVote()
    assert split.vote((("en", 0.55), ("hi", 0.45)), 2.0, final=False) is None


def test_the_votes_decide_at_a_pause_or_after_long_enough():
    vote = LanguageVote()
    assert vote.vote((("en", 0.5), ("de", 0.5)), 1.0, final=False) is None
    assert vote.vote((("de", 0.5), ("en", 0.4)), 1.0, final=True) == "de"
    undecided = LanguageVote()
    assert undecided.vote((("en", 0.4), ("de", 0.35), ("nl", 0.25)), 5.0, final=False) == "en"


def test_a_short_pause_inside_a_sentence_keeps_the_language():
    vote = LanguageVote()
    vote.settle("zh")
    vote.new_utterance(keep=True)
    assert vote.settled and vote.language == "zh" and vote.settled_language == "zh"
    vote.new_utterance(keep=False)
    assert not vote.settled and vote.previous == "zh"
    assert vote.settled_language is None  # the last one settled is not this utterance's


def test_a_language_given_by_the_user_is_never_detected_again():
    vote = LanguageVote(fixed="es")
    vote.new_utterance(keep=False)
    assert vote.settled and vote.language == "es"


def test_what_is_believable_before_the_language_is_settled():
    vote = after("es")
    assert vote.believable("es", 1.0)
    assert not vote.believable("ar", 1.0)  # too short a window to take another language
    vote.vote((("pt", 0.8), ("es", 0.1)), 1.6, final=False)
    assert vote.believable("pt", 1.6) and not vote.believable("ar", 1.6)
    assert LanguageVote().believable("fr", 1.0)  # the first utterance: nothing to go by


def test_the_same_clear_detection_twice_settles_it_without_a_majority():
    # Accented English as Whisper base detects it (the bundled Indian-English clip):
    # English on top every time, but Hindi and Telugu keep the English share of the
    # votes under the majority until the pause.
    detections = [
        ((("en", 0.41), ("hi", 0.22), ("te", 0.15), ("sa", 0.06), ("ur", 0.05)), 1.06),
        ((("en", 0.50), ("hi", 0.28), ("sa", 0.07), ("ur", 0.04), ("te", 0.03)), 1.57),
        ((("en", 0.61), ("hi", 0.19), ("sa", 0.07), ("te", 0.04), ("ta", 0.02)), 2.14),
    ]
    vote = LanguageVote()
    decided = [vote.vote(ranked, seconds, final=False) for ranked, seconds in detections]
    assert decided == [None, None, "en"]
    without = LanguageVote(LanguageOptions(steady_window=99.0))
    assert [without.vote(ranked, seconds, final=False) for ranked, seconds in detections] == [None] * 3


def test_a_steady_detection_needs_a_clear_lead_a_long_enough_window_and_a_repeat():
    narrow = LanguageVote()  # Swedish for Spanish in a crowd at 5 dB: on top, not by far
    narrow.vote((("sv", 0.31), ("es", 0.26)), 2.7, final=False)
    assert narrow.vote((("sv", 0.46), ("es", 0.29)), 3.2, final=False) is None
    short = LanguageVote()
    short.vote((("it", 0.7), ("en", 0.1)), 1.0, final=False)
    assert short.vote((("it", 0.7), ("en", 0.1)), 1.9, final=False) is None
    changed = LanguageVote()  # the top changed: not steady, however clear
    changed.vote((("ar", 0.53), ("en", 0.19)), 2.1, final=False)
    assert changed.vote((("it", 0.70), ("ar", 0.10), ("en", 0.08), ("es", 0.05)), 2.6, final=False) is None


def test_a_steady_detection_does_not_switch_away_from_the_previous_language():
    # Synthetic Spanish, the utterance after a Spanish one: Thai on top twice, then Spanish.
    detections = [
        ((("id", 0.19), ("vi", 0.09), ("fr", 0.08), ("th", 0.08), ("es", 0.07)), 1.06),
        ((("th", 0.48), ("ja", 0.14), ("es", 0.06), ("vi", 0.06), ("ko", 0.05)), 1.63),
        ((("th", 0.41), ("ja", 0.13), ("vi", 0.09), ("ko", 0.05), ("km", 0.04)), 2.14),
        ((("es", 0.26), ("ja", 0.17), ("ko", 0.14), ("th", 0.10), ("id", 0.07)), 2.66),
    ]
    vote = after("es")
    assert [vote.vote(ranked, seconds, final=False) for ranked, seconds in detections] == [None] * 4


def test_a_switch_is_contested_only_while_the_previous_language_keeps_a_fair_share():
    # A short Spanish phrase after Spanish ones, as Whisper base detected it.
    close = after("es")
    close.vote((("pt", 0.69), ("es", 0.15), ("it", 0.06)), 2.6, final=False)
    assert close.leader == "pt" and close.contested("pt")
    assert not close.contested("es")  # staying is never contested
    clear = after("en")  # an English speaker goes on in Spanish
    clear.vote((("es", 0.95), ("en", 0.03)), 2.0, final=False)
    assert not clear.contested("es")
    first = LanguageVote()  # nothing before to switch away from
    first.vote((("pt", 0.57), ("es", 0.32)), 2.0, final=False)
    assert not first.contested("pt")
    assert not LanguageVote(fixed="es").contested("pt")


def test_the_rival_is_the_previous_language_on_a_contested_switch():
    close = after("es")
    close.vote((("pt", 0.69), ("es", 0.15), ("it", 0.06)), 2.6, final=False)
    assert close.rival("pt") == "es" and close.rival("es") is None
    clear = after("en")
    clear.vote((("es", 0.95), ("en", 0.03)), 2.0, final=False)
    assert clear.rival("es") is None


def test_the_first_utterance_has_a_rival_only_on_a_close_call():
    # Spanish in crowd noise, as base detected it on an AVX2 CPU: Portuguese first.
    close = LanguageVote()
    close.vote((("pt", 0.57), ("es", 0.32)), 2.0, final=False)
    assert close.rival("pt") == "es"
    clear = LanguageVote()
    clear.vote((("en", 0.93), ("de", 0.02)), 2.0, final=False)
    assert clear.rival("en") is None
    assert LanguageVote(fixed="es").rival("pt") is None


def test_a_close_call_goes_to_the_likelier_words_and_never_to_words_on_what_the_detection_heard_as_nothing():
    kept = LanguageDecode(heard=True, looped=False, avg_logprob=-0.4)
    likelier = LanguageDecode(heard=True, looped=False, avg_logprob=-0.2)
    looped = LanguageDecode(heard=True, looped=True, avg_logprob=-0.1)
    nothing = LanguageDecode(heard=False, looped=False, avg_logprob=-0.1)
    assert rival_wins(kept, likelier) and not rival_wins(likelier, kept)
    assert rival_wins(looped, kept)  # a decode in the wrong language often loops
    assert not rival_wins(kept, looped) and not rival_wins(kept, nothing)
    assert not rival_wins(nothing, likelier)  # noise detects as a close call too
