"""The commit policy: which decoded words become final, which stay a partial.

LocalAgreement-n (:class:`LocalAgreementStabilizer`) makes a word final once ``n``
successive hypotheses agree on it and everything before it. Around it:

- at a pause (the decode is ``final``) everything decoded becomes final at once;
- while the utterance's language is unsettled, or the window just grew at its start
  (the held start of the utterance went back in front of it), nothing becomes final
  and the words are shown only if their language is believable so far;
- a decode that lost its way (average log-probability below the guards'
  ``min_avg_logprob``) neither confirms nor contradicts the one before: two such
  decodes agree on what they invented as readily as on what was said;
- nothing becomes final in a window shorter than ``first_final_window``: two decodes
  of an utterance's first second or so agree on their guesses, so they only confirm
  a longer one;
- a word the decoder is sure of (``settle_probability``), with ``settle_after``
  seconds of heard audio after it, is final after one decode if the words before it
  are: the next decode would only confirm it, later. Not a sentence end (a window cut
  mid-sentence ends on a full stop), nor on the first decode after a reset, nor a word
  that could begin a vocabulary term (a name heard in pieces: the decode that hears all
  of it may write it whole). On a busy machine decodes come seldom and each covers more
  new audio, so more words settle;
- a window past ``max_window`` with nothing ever agreed on takes the latest
  hypothesis as final rather than let the window, and decoding cost, grow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..types import Word
from .stabilizer import LocalAgreementStabilizer
from .text import ends_sentence_mark


@dataclass(frozen=True)
class CommitOptions:
    # LocalAgreement-n: hypotheses that must agree. More is steadier and slower.
    agreement: int = 2
    # Seconds of window before anything in it becomes final (docs/benchmarks.md).
    # Longer is steadier at an utterance's start and shows its first finals later.
    first_final_window: float = 2.0
    # A word decoded with at least this probability, and followed by at least
    # ``settle_after`` seconds of the window's audio, is final without a second decode
    # (docs/benchmarks.md). Lower, or shorter, shows finals sooner and lets more
    # words through that a later decode would have corrected; None: agreement only.
    settle_probability: float = 0.9
    settle_after: float | None = 0.6


class CommitPolicy:
    def __init__(self, options: CommitOptions, *, min_avg_logprob: float, max_window: float) -> None:
        self.options = options
        self._min_avg_logprob = min_avg_logprob
        self._max_window = max_window
        self._agreement = LocalAgreementStabilizer(options.agreement)

    def reset(self) -> None:
        """Agreement starts again (a new window, or a new language)."""
        self._agreement.reset()

    def decide(
        self,
        words: Sequence[Word],
        *,
        avg_logprob: float | None,
        final: bool,
        provisional: bool,
        believable: bool,
        has_finals: bool,
        seconds: float,
        end: float,
        begins_term: Callable[[str], bool] | None = None,
    ) -> tuple[list[Word], list[Word]]:
        """(newly final, tentative) after a decode of ``seconds`` of window, ending at
        stream time ``end``, found ``words`` after the window's final words
        (``has_finals``). ``avg_logprob``:
        the decode's (None: a decode with context, which never lost its way);
        ``provisional``: the language is unsettled or the window just grew;
        ``believable``: the words' language is believable so far; ``begins_term``:
        whether a word could begin a vocabulary term (None: no vocabulary)."""
        if final:
            return self._agreement.flush(words), []
        if provisional:
            return [], list(words) if believable else []
        if words and avg_logprob is not None and avg_logprob < self._min_avg_logprob:
            return [], self._agreement.tentative
        if not has_finals and seconds < self.options.first_final_window:
            self._agreement.hold(words)
            return [], list(words)
        newly_final, tentative = self._agreement.update(words)
        if seconds > self._max_window and not has_finals and not newly_final:
            return self._agreement.flush(words), []
        settled = self._settled(tentative, end, begins_term)
        if settled:
            newly_final += self._agreement.settle(settled)
            tentative = tentative[settled:]
        return newly_final, tentative

    def _settled(self, tentative: Sequence[Word], end: float, begins_term: Callable[[str], bool] | None) -> int:
        """How many of the tentative words are final after this one decode."""
        after = self.options.settle_after
        if after is None or not self._agreement.continued:
            # The first decode after a reset (a new window or language) settles nothing.
            return 0
        count = 0
        for word in tentative:
            if word.probability < self.options.settle_probability or word.end > end - after:
                break
            if ends_sentence_mark(word.text):
                break  # a cut window ends on a full stop: the next decode confirms it
            if begins_term is not None and begins_term(word.text):
                break  # the next decode, hearing the rest of the name, may write it whole
            count += 1
        return count
