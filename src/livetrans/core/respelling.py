"""How a recognised span is matched to a vocabulary term and written as it.

The rule (:class:`RespellRule`), the keys spellings are compared by (:func:`compact`
letters, a coarse :func:`sound_key`, Chinese by :func:`pinyin`), the letter
:func:`similarity`, and the merged word that replaces the span.
``Vocabulary.respell`` applies them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rapidfuzz.distance import Levenshtein

from ..types import Word
from .text import has_cjk, is_han

if TYPE_CHECKING:
    from .vocabulary import VocabularyTerm

# Punctuation around a recognised span that stays when the span is respelt.
EDGE_PUNCTUATION = "\"'“”‘’¿¡([{<«-.,!?;:。，！？；：、)]}>»…"


@dataclass(frozen=True)
class RespellRule:
    """When a recognised span is written as a term.

    Always: the span spells the term (or one of its ``sounds_like``) once case,
    spaces, accents and punctuation are ignored ("one plus 12 R", "Dy son").
    In Mandarin, a Chinese term of ``min_han_characters`` or more has near misses
    of as many characters, all said alike (:func:`syllables_alike`) and all but one
    said the same: Whisper writes a name it does not know in characters of the same
    sound ("珀来雅" for 珀莱雅, "米雪冰沉" for 蜜雪冰城). A shorter one is too often
    the sound of other words ("安塔" in a transliterated name for 安踏).
    Latin-script near misses have letters close to the term's
    (``min_similarity``), start alike (:func:`same_onset`: the same letter, or any
    vowel for a vowel) and sound like it by a coarse English-leaning key
    (:func:`sound_key`). A long term (key of ``sure_key_length`` or more) needs a key
    close to its own (``min_key_similarity``: "ugly Nexode" for Ugreen Nexode, one
    word misheard), the same digits (a model number is never written that was not
    heard), and as many words or more, each sounding more than
    ``min_word_similarity`` like the term's word where there are as many: a word of
    speech is not a name's near miss for sharing its start ("naturales" is not Natura
    Ekos, "mercado ilegal" not Mercado Pago). A short term needs the very key but
    for a final vowel, which is weakly heard ("CeraV" for CeraVe), and only where
    Whisper doubted the span (mean word probability under ``max_probability``) and
    the span is not one everyday word (nor a possessive name without its 's: Whisper
    primed by the list writes "Kiehl" for "keel"). A short key is shared by common
    words ("kills" and "Kiehl's"): Whisper may doubt such a word in noise or in a
    synthetic voice, but a name it did not know comes out in pieces or misspelled
    ("bass is" for Baseus, "keels" for Kiehl's), not as one word it writes whole.
    Anchored: a span of as many words as a term of two or more, one of them the
    term's word spelled exactly and no everyday word, the others each sounding more
    than ``min_word_similarity`` like the term's word, and the same digits, is the
    term however its key compares ("Lulule FreeSip" for Owala FreeSip): the name's
    own word vouches for it.
    """

    min_similarity: float = 0.6  # 1 - edit distance / longer length, on the compact letters
    sure_key_length: int = 8  # keys this long do not collide by chance
    min_key_similarity: float = 0.8  # a long term's key against the span's, as letters
    max_probability: float = 0.7  # a short term's near miss must be this doubtful
    min_key_length: int = 4  # shorter terms are only respelt when spelled exactly
    min_word_similarity: float = 0.5  # a long term's word against the span's, as keys (more than this)
    min_han_characters: int = 3  # shorter Chinese terms are only respelt when spelled exactly


def compact(text: str) -> str:
    """Letters and digits only, case and accents folded: how spellings are compared."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalnum())


_VOWELS = frozenset("aeiou")

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
    """1 - Levenshtein distance / the longer length (0 when either is empty)."""
    if not a or not b:
        return 0.0
    return float(Levenshtein.normalized_similarity(a, b))


def same_onset(a: str, b: str) -> bool:
    """Whether two compact spellings start alike: the same letter, or both a vowel (a
    vowel onset is misheard as another: "agree" for Ugreen, "aferta" for oferta)."""
    return onset(a) == onset(b)


def onset(spelling: str) -> str:
    """What :func:`same_onset` compares: the first letter, any vowel as "a"."""
    first = spelling[:1]
    return "a" if first in _VOWELS else first


def short_key(key: str) -> str:
    """A short term's sound key without a final vowel, which is weakly heard."""
    return key[:-1] if len(key) > 2 and key.endswith("a") else key


@functools.lru_cache(maxsize=4096)
def pinyin(text: str) -> tuple[str, ...]:
    """The toneless pinyin of each of ``text``'s Chinese characters, read as a phrase
    (a character with several readings takes the one its neighbours call for)."""
    # pypinyin loads its dictionary (about a second, 50 MB) when a vocabulary first
    # holds a Chinese term, not when the server starts.
    from pypinyin import Style, lazy_pinyin

    return tuple(lazy_pinyin(text, style=Style.NORMAL))


_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z", "c", "s", "y", "w")
# Initials many speakers (and Whisper hearing them) do not tell apart.
_MERGED_INITIALS = {"zh": "z", "ch": "c", "sh": "s", "n": "l"}


def _syllable_key(syllable: str) -> tuple[str, str]:
    """A syllable's initial and final, merged where speakers blur them (z/zh, c/ch,
    s/sh, n/l; a final -ng as -n)."""
    initial = next((i for i in _INITIALS if syllable.startswith(i)), "")
    final = syllable[len(initial) :]
    return _MERGED_INITIALS.get(initial, initial), final[:-1] if final.endswith("ng") else final


def syllables_alike(said: Sequence[str], term: Sequence[str]) -> bool:
    """Whether the syllables ``said`` may be a Chinese term's (``term``): as many, all
    alike by :func:`_syllable_key`, and all but one the very same."""
    if len(said) != len(term):
        return False
    same = sum(a == b for a, b in zip(said, term, strict=True))
    return same >= len(term) - 1 and all(_syllable_key(a) == _syllable_key(b) for a, b in zip(said, term, strict=True))


def _one_open(syllables: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The syllables with each one in turn left open ("*"): the keys under which a
    Chinese term is found from a span that says all but one of its syllables."""
    return [(*syllables[:i], "*", *syllables[i + 1 :]) for i in range(len(syllables))]


def digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


@dataclass(frozen=True)
class LongTerm:
    """A term whose sound key is long enough to be matched by a close key."""

    term: VocabularyTerm
    compact: str
    key: str
    digits: str
    word_keys: tuple[str, ...]  # the sound key of each of its words


@dataclass(frozen=True)
class HanTerm:
    """A Chinese term matched by the sound of its characters."""

    term: VocabularyTerm
    compact: str
    syllables: tuple[str, ...]


@dataclass
class RespellIndex:
    """A language's terms keyed for matching by ``rule``: exact compact spellings,
    short terms by their sound keys, long terms to compare keys with, Chinese terms
    by their syllables."""

    rule: RespellRule = field(default_factory=RespellRule)
    exact: dict[str, VocabularyTerm] = field(default_factory=dict)
    by_sound: dict[str, list[tuple[VocabularyTerm, str]]] = field(default_factory=dict)
    long: dict[tuple[str, str], list[LongTerm]] = field(default_factory=dict)  # by onset and digits
    han: dict[tuple[str, ...], list[HanTerm]] = field(default_factory=dict)  # by syllables, one as "*"
    anchored: dict[str, list[tuple[int, LongTerm]]] = field(default_factory=dict)  # by a word: (its place, term)
    max_words: int = 0

    @classmethod
    def build(cls, terms: Iterable[VocabularyTerm], rule: RespellRule, *, mandarin: bool = False) -> RespellIndex:
        """The index of ``terms``, less those that opted out of respelling.
        ``mandarin``: the speech is Mandarin, so Chinese terms have near misses by
        their pinyin (not in Japanese or Cantonese, which read the characters otherwise)."""
        index = cls(rule)
        for term in terms:
            if not term.respell:
                continue
            for spelling in (term.term, *term.sounds_like):
                key = compact(spelling)
                if key:
                    index.exact.setdefault(key, term)
                    words = len(spelling.split()) if not has_cjk(spelling) else len(key)
                    index.max_words = max(index.max_words, min(8, words + 2))
            term_compact = compact(term.term)
            if mandarin and is_han(term_compact) and len(term_compact) >= rule.min_han_characters:
                han = HanTerm(term, term_compact, pinyin(term_compact))
                for syllables in _one_open(han.syllables):
                    index.han.setdefault(syllables, []).append(han)
            key = sound_key(term.term)
            if term.cjk or len(key) < rule.min_key_length:
                continue
            long = LongTerm(term, term_compact, key, digits(term_compact), tuple(map(sound_key, term.term.split())))
            if len(long.word_keys) >= 2:
                for place, word in enumerate(term.term.split()):
                    index.anchored.setdefault(compact(word), []).append((place, long))
            if len(key) >= rule.sure_key_length:
                index.long.setdefault((onset(term_compact), long.digits), []).append(long)
            else:
                index.by_sound.setdefault(short_key(key), []).append((term, term_compact))
        return index

    @property
    def empty(self) -> bool:
        return not self.exact

    def match(
        self, words: Sequence[Word], i: int, everyday: Container[str] = frozenset()
    ) -> tuple[int, VocabularyTerm] | None:
        """The longest span from word ``i`` that spells a term, else the span that is
        the closest near miss of one (``None``: neither, or already the term)."""
        spans = self._spans(words, i)
        exact = self._exact(spans)
        if exact is not None:
            n, term = exact
            return exact if differs(words[i : i + n], term) else None
        near = self._near_miss(words, i, spans, everyday)
        if near is None:
            return None
        score, n, term = near
        if n > 1:
            # A near miss does not take the word before a name with it ("the Theragun
            # Mini"): where the words from the next one on spell the term, or come at
            # least as close, the span starts there.
            later = self._spans(words, i + 1)
            exact_later = self._exact(later)
            if exact_later is not None:
                if exact_later[1] is term:
                    return None
            else:
                near_later = self._near_miss(words, i + 1, later, everyday)
                if near_later is not None and near_later[2] is term and near_later[0] >= score:
                    return None
        return n, term

    def _spans(self, words: Sequence[Word], i: int) -> list[tuple[int, str]]:
        """The spans from word ``i`` a term may take, longest first: (words, compact spelling)."""
        return [
            (n, compact("".join(w.text for w in words[i : i + n])))
            for n in range(min(self.max_words, len(words) - i), 0, -1)
        ]

    def _exact(self, spans: Sequence[tuple[int, str]]) -> tuple[int, VocabularyTerm] | None:
        """The longest of ``spans`` that spells a term or a ``sounds_like`` of it."""
        for n, spelled in spans:
            term = self.exact.get(spelled) if spelled else None
            if term is not None:
                return n, term
        return None

    def _near_miss(
        self, words: Sequence[Word], i: int, spans: Sequence[tuple[int, str]], everyday: Container[str]
    ) -> tuple[float, int, VocabularyTerm] | None:
        """Of ``spans`` (from word ``i``), the one closest to a term by the rule: (its
        letter similarity, its length in words, the term)."""
        rule = self.rule
        best: tuple[float, int, VocabularyTerm] | None = None  # the closest; of equals, the fewest words
        for n, spelled in spans:
            if not spelled:
                continue
            if self.han and is_han(spelled):
                best = self._han_near_miss(best, spelled, n)
                continue
            key = sound_key(spelled)
            doubted = sum(w.probability for w in words[i : i + n]) / n < rule.max_probability
            for term, term_compact in self.by_sound.get(short_key(key), ()):  # short: the key, doubted
                if not doubted or (n == 1 and spelled in everyday):
                    continue
                best = _closer(best, spelled, term_compact, n, term, rule)
            best = self._anchored(best, words[i : i + n], spelled, everyday)
            # long: the same onset and digits (the index's key), a key this close, word by word
            for long in self.long.get((onset(spelled), digits(spelled)), ()):
                close = similarity(key, long.key) >= rule.min_key_similarity
                if close and self._words_alike(words[i : i + n], long.word_keys):
                    best = _closer(best, spelled, long.compact, n, long.term, rule)
        return best

    def _anchored(
        self, best: tuple[float, int, VocabularyTerm] | None, span: Sequence[Word], spelled: str,
        everyday: Container[str],
    ) -> tuple[float, int, VocabularyTerm] | None:
        """The better of ``best`` and a term of as many words as ``span`` (spelling
        ``spelled``), one of whose words the span spells exactly, no everyday word,
        whose other words each sound like the span's, with the same digits
        (:class:`RespellRule`)."""
        for place, key in enumerate(compact(w.text) for w in span):
            if key in everyday:
                continue
            for at, term in self.anchored.get(key, ()):
                if at != place or len(term.word_keys) != len(span) or digits(spelled) != term.digits:
                    continue
                pairs = enumerate(zip(span, term.word_keys, strict=True))
                if all(self._sounds_alike(w, k) for j, (w, k) in pairs if j != place):
                    best = _better(best, similarity(spelled, term.compact), len(span), term.term)
        return best

    def _han_near_miss(
        self, best: tuple[float, int, VocabularyTerm] | None, spelled: str, n: int
    ) -> tuple[float, int, VocabularyTerm] | None:
        """The better of ``best`` and a Chinese term the span of ``n`` words, Chinese
        characters ``spelled``, sounds like (its score: the share of syllables the same)."""
        said = pinyin(spelled)
        for syllables in _one_open(said):
            for han in self.han.get(syllables, ()):
                if spelled == han.compact or not syllables_alike(said, han.syllables):
                    continue
                score = sum(a == b for a, b in zip(said, han.syllables, strict=True)) / len(said)
                best = _better(best, score, n, han.term)
        return best

    def _words_alike(self, span: Sequence[Word], word_keys: Sequence[str]) -> bool:
        """Whether a span may be a long term's near miss word by word: it has at least as
        many words (a name is misheard in pieces, not merged into one word of speech),
        and where as many, each sounds more than ``min_word_similarity`` like the
        term's word."""
        if len(span) < len(word_keys):
            return False
        if len(span) > len(word_keys):
            return True
        return all(self._sounds_alike(w, k) for w, k in zip(span, word_keys, strict=True))

    def _sounds_alike(self, word: Word, key: str) -> bool:
        """Whether ``word`` sounds more than ``min_word_similarity`` like a term's word (its ``key``)."""
        return similarity(sound_key(word.text), key) > self.rule.min_word_similarity


def _closer(
    best: tuple[float, int, VocabularyTerm] | None,
    spelled: str,
    term_compact: str,
    n: int,
    term: VocabularyTerm,
    rule: RespellRule,
) -> tuple[float, int, VocabularyTerm] | None:
    """The better of ``best`` and the span of ``n`` words spelling ``spelled`` as
    ``term``: letters at least ``min_similarity`` alike, closer, or as close in fewer
    words (a near miss does not take the next word with it)."""
    score = similarity(spelled, term_compact)
    if score < rule.min_similarity or not same_onset(spelled, term_compact):
        return best
    return _better(best, score, n, term)


def _better(
    best: tuple[float, int, VocabularyTerm] | None, score: float, n: int, term: VocabularyTerm
) -> tuple[float, int, VocabularyTerm]:
    """The better near miss of ``best`` and a span of ``n`` words ``score`` like
    ``term``: the closer, or of equals the fewer words."""
    if best is None or (score, -n) > (best[0], -best[1]):
        return (score, n, term)
    return best


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
