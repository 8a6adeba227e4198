"""The language decisions as decode flows: the votes of language.py, with the decodes
that a close call between two languages needs.

Each decode of an utterance whose language is not settled votes with its detection
(:class:`~livetrans.core.language.LanguageVote`). When the votes decide, or at a pause
on the leader, the language settles, unless the call is close (``rival``): then the
window is decoded in both languages, and the likelier words win (``rival_wins``).

A flow is a generator, as in flow.py: it yields the :class:`DecodeRequest` it needs,
receives the :class:`Hypothesis` that answers it, and returns the language it settled
on. Only the votes change here; what settling means for the window and the commit
policy is the recogniser's.
"""

from __future__ import annotations

from collections.abc import Generator

from ..types import SAMPLE_RATE, Float32Array
from .decoding import DecodeRequest, Hypothesis
from .guards import GuardOptions, is_loop
from .language import LanguageDecode, LanguageVote, rival_wins

__all__ = ["LanguageDecisions"]


class LanguageDecisions:
    """Settles ``votes`` from the decodes of the utterance, decoding a close call in
    both languages with the running decodes' ``beam``; a decode that loops (the
    ``guards``' test) never wins one."""

    def __init__(self, votes: LanguageVote, *, beam: int, guards: GuardOptions) -> None:
        self.votes = votes
        self.beam = beam
        self.guards = guards

    def vote(
        self, hypothesis: Hypothesis, window: Float32Array, *, final: bool
    ) -> Generator[DecodeRequest, Hypothesis, str | None]:
        """The detection of ``hypothesis``, a decode of ``window``, votes; returns the
        language settled on, if the votes decided it (None: still open)."""
        ranked = hypothesis.language_probabilities or ((hypothesis.language, hypothesis.language_probability),)
        decided = self.votes.vote(ranked, len(window) / SAMPLE_RATE, final=final)
        if decided is None:
            return None
        return (yield from self.settle(decided, window))

    def settle(self, detected: str, window: Float32Array) -> Generator[DecodeRequest, Hypothesis, str]:
        """Settle on ``detected``, or on its rival on a close call (language.py: the
        previous utterance's language, or the first utterance's runner-up) where
        ``rival_wins``. Both decodes without a prompt (the prompt is in the previous
        language); the rival's only where the detected one is contestable."""
        language = detected
        rival = self.votes.rival(detected)
        if rival is not None:
            weighed = yield from self._weigh(detected, window)
            if weighed.contestable and rival_wins(weighed, (yield from self._weigh(rival, window))):
                language = rival
        self.votes.settle(language)
        return language

    def _weigh(self, language: str, window: Float32Array) -> Generator[DecodeRequest, Hypothesis, LanguageDecode]:
        """The window decoded in ``language``, as a close call weighs it."""
        answer = yield DecodeRequest(window, prompt="", prefix="", language=language, beam_size=self.beam)
        return LanguageDecode(bool(answer.words), is_loop(answer.compression_ratio, self.guards), answer.avg_logprob)
