"""Hypothesis stabilisation: which recognised words are final, which may still change.

:class:`LocalAgreementStabilizer` is LocalAgreement-n (Macháček et al., 2023, as in
ufal/whisper_streaming): a word becomes final once ``n`` consecutive hypotheses
agree on it and on everything before it. At the end of an utterance (the VAD heard
a pause) the recogniser flushes, and the last hypothesis becomes final at once.

The guards below drop what Whisper is known to invent: repetition loops, words in
the silence padded after the audio, and stock phrases it produces on noise.
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

    def flush(self, words: Sequence[Word] | None = None) -> list[Word]:
        """End of utterance: the latest hypothesis (or ``words``) is final as it stands."""
        final = list(words) if words is not None else self.tentative
        self._history = []
        return final

    def reset(self) -> None:
        self._history = []


# Subtitle credits from Whisper's training data: never real speech in a live stream.
_CREDIT_PHRASES = [
    "subtitles by the amara org community",
    "subtitles by",
    "transcribed by",
    "字幕由amaraorg社区提供",
    "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "продолжение следует",
    "субтитры сделал dimatorzok",
    "untertitel der amaraorgcommunity",
    "untertitel im auftrag des zdf",
    "soustitrage stv 501",
    "soustitrage st 501",
    "subtítulos realizados por la comunidad de amaraorg",
    "legendas pela comunidade amaraorg",
    "sottotitoli creati dalla comunità amaraorg",
]
# Sign-offs Whisper writes on noise and music, but that a host may also really say:
# dropped only when the decoder itself doubted there was speech.
_SIGN_OFF_PHRASES = [
    "thanks for watching",
    "thank you for watching",
    "thank you so much for watching",
    "please subscribe",
    "please like and subscribe",
    "you",
    "thank you",
    "bye",
    "谢谢观看",
    "感谢观看",
    "谢谢",
    "ご視聴ありがとうございました",
    "gracias por ver el video",
    "gracias",
]
_CREDIT_KEYS = frozenset(word_key(p) for p in _CREDIT_PHRASES)
_SIGN_OFF_KEYS = frozenset(word_key(p) for p in _SIGN_OFF_PHRASES)


def is_phantom(words: Sequence[Word], *, doubtful: bool) -> bool:
    """True when the words, taken together, are only a phrase Whisper invents.

    Credit lines are always phantoms; sign-offs only when ``doubtful`` (the decoder
    or the VAD gave weak evidence of speech).
    """
    key = word_key("".join(w.text for w in words))
    if not key:
        return False
    return key in _CREDIT_KEYS or (doubtful and key in _SIGN_OFF_KEYS)


def trim_repetition(words: Sequence[Word], max_repeats: int = 2, max_ngram: int = 8) -> list[Word]:
    """Cut a repetition loop: an n-gram said more than ``max_repeats`` times in a row.

    The words up to and including the last allowed repeat are kept; the loop after
    it is dropped, which is what a human captioner would write.
    """
    keys = [word_key(w.text) for w in words]
    for start in range(len(keys)):
        for n in range(1, max_ngram + 1):
            gram = keys[start : start + n]
            if len(gram) < n or not any(gram):
                break
            repeats = 1
            pos = start + n
            while keys[pos : pos + n] == gram:
                repeats += 1
                pos += n
            if repeats > max_repeats:
                return list(words[: start + n * max_repeats])
    return list(words)


def drop_echo(
    words: Sequence[Word], before: str, *, max_probability: float = 0.5, min_words: int = 2, min_chars: int = 4
) -> list[Word]:
    """Drop leading words that only repeat the end of the final text ``before`` them
    and that the decoder itself doubted (mean probability under ``max_probability``).

    Whisper given a prompt sometimes copies it instead of hearing the audio: after
    "…non c'è alcuni sui canzoni." it wrote "Non/0.00 c/0.01 'è/0.76 alcuni/0.17 sui/0.23
    canzoni./0.09" and then the phrase again, each time surer of it. A speaker who
    really repeats a phrase is heard with confidence from the start, and kept.
    """
    done = word_key(before)
    out = list(words)
    echoing = False
    while True:
        copied = 0
        spelled = ""
        for n, word in enumerate(out, start=1):
            spelled += word_key(word.text)
            if len(spelled) > len(done):
                break
            if n >= min_words and len(spelled) >= min_chars and done.endswith(spelled):
                copied = n
        if not copied:
            return out
        doubted = sum(w.probability for w in out[:copied]) / copied < max_probability
        # Once the decoder is echoing, a copy of the copy is the same loop, however
        # sure of itself it has grown by then.
        if not (doubted or echoing):
            return out
        out, echoing = out[copied:], True


_SPACE_RE = re.compile(r"\s+")


def join_words(words: Sequence[Word]) -> str:
    """The text of a run of words, as Whisper spelled it, without outer spaces."""
    return _SPACE_RE.sub(" ", "".join(w.text for w in words)).strip()
