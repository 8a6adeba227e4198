"""How a recognised span is matched to a vocabulary term and written as it.

The rule (:class:`RespellRule`), the keys spellings are compared by (:func:`compact`
letters, a coarse :func:`sound_key`), the letter :func:`similarity`, and the
merged word that replaces the span. ``Vocabulary.respell`` applies them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..types import Word

if TYPE_CHECKING:
    from .vocabulary import VocabularyTerm

# Punctuation around a recognised span that stays when the span is respelt.
EDGE_PUNCTUATION = "\"'“”‘’¿¡([{<«-.,!?;:。，！？；：、)]}>»…"


@dataclass(frozen=True)
class RespellRule:
    """When a recognised span is written as a term.

    Always: the span spells the term (or one of its ``sounds_like``) once case,
    spaces, accents and punctuation are ignored ("one plus 12 R", "Dy son").
    Near misses (Latin script only): the span sounds like the term by a coarse
    English-leaning key (:func:`sound_key`) and its letters are close
    (``min_similarity``); a short term (key under ``sure_key_length``) only where
    Whisper doubted the span (mean word probability under ``max_probability``) and the
    span is not one everyday word. A short key is shared by common words ("kills" and
    "Kiehl's"): Whisper may doubt such a word in noise or in a synthetic voice, but a
    name it did not know comes out in pieces or misspelled ("bass is" for Baseus,
    "keels" for Kiehl's), not as one word it writes whole.
    """

    min_similarity: float = 0.6  # 1 - edit distance / longer length, on the compact letters
    sure_key_length: int = 8  # keys this long do not collide by chance
    max_probability: float = 0.7  # a short term's near miss must be this doubtful
    min_key_length: int = 4  # shorter terms are only respelt when spelled exactly


def compact(text: str) -> str:
    """Letters and digits only, case and accents folded: how spellings are compared."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalnum())


_SOUND_RULES = (
    ("ph", "f"), ("ck", "k"), ("ch", "k"), ("sh", "s"), ("th", "t"), ("gh", ""),
    ("c", "k"), ("q", "k"), ("z", "s"), ("x", "ks"), ("h", ""), ("y", "i"),
)


def sound_key(text: str) -> str:
    """A coarse key of how Latin-script text sounds: consonants kept (ph=f, c=k, ...),
    each run of vowels one 'a', doubled letters once. "Kiehl's", "keels" -> "kals"."""
    key = compact(text)
    for old, new in _SOUND_RULES:
        key = key.replace(old, new)
    key = re.sub(r"[aeiou]+", "a", key)
    return re.sub(r"(.)\1+", r"\1", key)


def similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / the longer length."""
    if not a or not b:
        return 0.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))


@dataclass
class RespellIndex:
    """A language's terms keyed for matching: exact compact spellings, and sound keys."""

    exact: dict[str, VocabularyTerm] = field(default_factory=dict)
    by_sound: dict[str, list[tuple[VocabularyTerm, str]]] = field(default_factory=dict)
    max_words: int = 0

    @property
    def empty(self) -> bool:
        return not self.exact


def differs(span: Sequence[Word], term: VocabularyTerm) -> bool:
    """Whether the span is written otherwise than the term (else nothing to respell)."""
    return "".join(w.text for w in span).strip().strip(EDGE_PUNCTUATION) != term.term


def merged(span: Sequence[Word], term: VocabularyTerm) -> Word:
    """One word for the span, spelled as the term, keeping the span's leading space
    and outer punctuation ("¿", ",", "."), times and mean probability."""
    first, last = span[0].text, span[-1].text
    lead = first[: len(first) - len(first.lstrip())]
    body = first.lstrip()
    before = body[: len(body) - len(body.lstrip(EDGE_PUNCTUATION))]
    tail = last.rstrip()
    after = tail[len(tail.rstrip(EDGE_PUNCTUATION)) :]
    if term.term.endswith(tuple(EDGE_PUNCTUATION)) and after.startswith(term.term[-1]):
        after = after[1:]
    probability = sum(w.probability for w in span) / len(span)
    return Word(span[0].start, span[-1].end, f"{lead}{before}{term.term}{after}", probability)
