"""Hypothesis stabilisation: which recognised words are final, which may still change.

:class:`LocalAgreementStabilizer` is LocalAgreement-n (Macháček et al., 2023, as in
ufal/whisper_streaming): a word becomes final once ``n`` consecutive hypotheses
agree on it and on everything before it. At the end of an utterance (the VAD heard
a pause) the recogniser flushes, and the last hypothesis becomes final at once.
When a hypothesis may take part in agreement is the commit policy's (commit.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from ..types import Word
from .text import ends_sentence_mark


def word_key(text: str) -> str:
    """A word as compared between hypotheses: case, punctuation and spaces ignored."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def agreement_key(text: str) -> str:
    """What must agree between hypotheses: the word, and whether it ends a sentence.

    Whisper ends a hypothesis cut mid-sentence with a full stop or "!"; the
    punctuation must be confirmed by the next hypothesis like the word itself.
    """
    return word_key(text) + ("." if ends_sentence_mark(text) else "")


def _common_prefix_length(a: Sequence[Word], b: Sequence[Word]) -> int:
    n = 0
    for x, y in zip(a, b):
        if agreement_key(x.text) != agreement_key(y.text):
            break
        n += 1
    return n


class LocalAgreementStabilizer:
    """Commits the longest common prefix of the last ``agreement`` hypotheses."""

    def __init__(self, agreement: int = 2) -> None:
        if agreement < 1:
            raise ValueError("agreement must be at least 1")
        self.agreement = agreement
        self._history: list[list[Word]] = []  # uncommitted tails, oldest first

    @property
    def tentative(self) -> list[Word]:
        return list(self._history[-1]) if self._history else []

    @property
    def continued(self) -> bool:
        """The latest hypothesis follows another one since the last reset."""
        return len(self._history) > 1

    def update(self, words: Sequence[Word]) -> tuple[list[Word], list[Word]]:
        """Take a new hypothesis of the uncommitted words; return (newly final, tentative)."""
        self.hold(words)
        if len(self._history) < self.agreement:
            return [], list(words)
        n = min(
            _common_prefix_length(self._history[-1], older) for older in self._history[:-1]
        )
        committed = list(words[:n])
        self._history = [h[n:] for h in self._history]
        return committed, list(words[n:])

    def hold(self, words: Sequence[Word]) -> None:
        """Take a hypothesis that may confirm the next one but commits nothing itself."""
        self._history = [*self._history, list(words)][-self.agreement :]

    def settle(self, count: int) -> list[Word]:
        """The first ``count`` words of the latest hypothesis's tentative tail are final
        without waiting for agreement; the next hypothesis is compared with the rest."""
        latest = self.tentative
        self._history = [latest[count:]]
        return latest[:count]

    def flush(self, words: Sequence[Word] | None = None) -> list[Word]:
        """End of utterance: the latest hypothesis (or ``words``) is final as it stands."""
        final = list(words) if words is not None else self.tentative
        self._history = []
        return final

    def reset(self) -> None:
        self._history = []


_SPACE_RE = re.compile(r"\s+")


def join_words(words: Sequence[Word]) -> str:
    """The text of a run of words, as Whisper spelled it, without outer spaces."""
    return _SPACE_RE.sub(" ", "".join(w.text for w in words)).strip()
