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
- a window past ``max_window`` with nothing ever agreed on takes the latest
  hypothesis as final rather than let the window, and decoding cost, grow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..types import Word
from .stabilizer import LocalAgreementStabilizer


@dataclass(frozen=True)
class CommitOptions:
    # LocalAgreement-n: hypotheses that must agree. More is steadier and slower.
    agreement: int = 2
    # Seconds of window before anything in it becomes final (docs/benchmarks.md).
    # Longer is steadier at an utterance's start and shows its first finals later.
    first_final_window: float = 2.0


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
    ) -> tuple[list[Word], list[Word]]:
        """(newly final, tentative) after a decode of ``seconds`` of window found
        ``words`` after the window's final words (``has_finals``). ``avg_logprob``:
        the decode's (None: a decode with context, which never lost its way);
        ``provisional``: the language is unsettled or the window just grew;
        ``believable``: the words' language is believable so far."""
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
        return newly_final, tentative
