"""The language decisions' decode flows (core/language_flow.py): the votes of each
decode, and the decodes of a close call, answered by a scripted decoder (no models)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from scripted import ScriptedDecoder, answered, ramp, sentence_words

from livetrans.core.decoding import Hypothesis
from livetrans.core.guards import GuardOptions
from livetrans.core.language import LanguageVote
from livetrans.core.language_flow import LanguageDecisions

WINDOW = ramp(2.0, start=1.0)  # two seconds of utterance
WORDS = sentence_words("Las arenas son blanquecinas.", 1.0)
CLOSE_CALL = (("pt", 0.57), ("es", 0.32), ("gl", 0.05))  # a first utterance: Spanish in crowd noise


@dataclass
class WeighingDecoder(ScriptedDecoder):
    """Decoded in a given language, the words score ``scores[language]`` (their
    average log-probability); in a language of ``silent`` it hears nothing, in one
    of ``looping`` its text compresses like a loop."""

    scores: dict[str, float] = field(default_factory=dict)
    silent: tuple[str, ...] = ()
    looping: tuple[str, ...] = ()

    def decode(self, audio, *, prompt, prefix, language, beam_size=1):
        hypothesis = super().decode(audio, prompt=prompt, prefix=prefix, language=language, beam_size=beam_size)
        return replace(
            hypothesis,
            words=() if language in self.silent else hypothesis.words,
            avg_logprob=self.scores.get(language, -1.0),
            compression_ratio=3.0 if language in self.looping else hypothesis.compression_ratio,
        )


def detection(*ranked: tuple[str, float]) -> Hypothesis:
    """A running decode that detected ``ranked`` (best first)."""
    return Hypothesis((), (), ranked[0][0], ranked[0][1], 0.01, -0.2, 1.2, ranked)


def decisions(votes: LanguageVote | None = None) -> LanguageDecisions:
    return LanguageDecisions(votes or LanguageVote(), beam=2, guards=GuardOptions())


def test_a_vote_that_decides_nothing_asks_for_no_decode():
    flow = decisions()
    settled, requests = answered(flow.vote(detection(("es", 0.97)), ramp(1.0), final=False), ScriptedDecoder(WORDS))
    assert settled is None and requests == [] and not flow.votes.settled


def test_a_clear_detection_settles_without_another_decode():
    flow = decisions()
    clear = detection(("en", 0.93), ("de", 0.02))
    settled, requests = answered(flow.vote(clear, WINDOW, final=False), ScriptedDecoder(WORDS))
    assert settled == "en" and requests == []
    assert flow.votes.settled and flow.votes.language == "en"


def test_a_close_call_decodes_the_window_in_both_languages_and_keeps_the_likelier_words():
    for scores, expected in (({"es": -0.21, "pt": -0.36}, "es"), ({"es": -0.50, "pt": -0.20}, "pt")):
        flow = decisions()
        decoder = WeighingDecoder(WORDS, scores=scores)
        settled, requests = answered(flow.vote(detection(*CLOSE_CALL), WINDOW, final=False), decoder)
        assert settled == expected and flow.votes.language == expected
        # The detected language first, then its rival: the whole window, with no
        # prompt (it is in no language yet) and nothing forced, searched as a running decode.
        assert [r.language for r in requests] == ["pt", "es"]
        assert all(r.audio is WINDOW and (r.prompt, r.prefix, r.beam_size) == ("", "", 2) for r in requests)


def test_a_close_call_on_what_the_detected_language_hears_as_nothing_is_not_decoded_again():
    flow = decisions()
    decoder = WeighingDecoder(WORDS, scores={"es": -0.3, "pt": -0.9}, silent=("pt",))
    settled, requests = answered(flow.vote(detection(*CLOSE_CALL), WINDOW, final=False), decoder)
    assert settled == "pt" and [r.language for r in requests] == ["pt"]


def test_a_decode_that_loops_never_wins_a_close_call():
    decoder = WeighingDecoder(WORDS, scores={"es": -0.4, "pt": -0.2}, looping=("pt",))
    settled, _ = answered(decisions().vote(detection(*CLOSE_CALL), WINDOW, final=False), decoder)
    assert settled == "es"
    rival_loops = WeighingDecoder(WORDS, scores={"es": -0.2, "pt": -0.4}, looping=("es",))
    settled, _ = answered(decisions().vote(detection(*CLOSE_CALL), WINDOW, final=False), rival_loops)
    assert settled == "pt"


def test_the_leader_settled_at_a_pause_is_weighed_against_its_rival_too():
    votes = LanguageVote()
    flow = decisions(votes)
    short = ramp(1.0, start=1.0)
    assert answered(flow.vote(detection(*CLOSE_CALL), short, final=False), ScriptedDecoder(WORDS)) == (None, [])
    assert votes.leader == "pt"
    decoder = WeighingDecoder(WORDS, scores={"es": -0.21, "pt": -0.36})
    settled, requests = answered(flow.settle("pt", WINDOW), decoder)
    assert settled == "es" and [r.language for r in requests] == ["pt", "es"]
    assert votes.settled and votes.language == "es"


def test_a_settled_switch_away_from_the_speakers_language_is_contested_by_it():
    votes = LanguageVote()
    votes.settle("es")
    votes.new_utterance(keep=False)  # the utterance after a Spanish one
    decoder = WeighingDecoder(WORDS, scores={"es": -0.21, "pt": -0.36})
    ranked = (("pt", 0.69), ("es", 0.15), ("it", 0.06))
    settled, requests = answered(decisions(votes).vote(detection(*ranked), ramp(2.6, start=1.0), final=True), decoder)
    assert settled == "es" and [r.language for r in requests] == ["pt", "es"]
