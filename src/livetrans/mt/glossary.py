"""Glossary terms and protected spans that must come out of translation exactly.

Before translation every protected span is replaced by a numbered placeholder
``[1]``, ``[2]``...; after translation each placeholder is replaced by the span (or,
for a glossary term, by its translation for the target language). Protected:

- glossary terms (the user's file): brands kept as is, or terms with a translation
  per language;
- URLs, e-mail addresses, @handles and #hashtags;
- currency amounts (¥199, $19.99, US$5, 19,99 €), percentages (50%, 12,5 %);
- numbers (1,299.00, 3.5, 10:30) and codes with digits (5G, A380, H100);
- emoji (including ZWJ sequences, skin tones and flags).

Why ``[n]``: it is plain ASCII that every NLLB/M2M/Marian SentencePiece vocabulary
spells with a few common pieces (no <unk>), it holds no word a model would
translate, and bracketed numbers (citation marks) are copied through in the
training data. Restoring is tolerant: spaces inside the brackets and full-width
brackets (［1］, 【1】) that a model may write for CJK targets are accepted. If a
placeholder is lost, its span is appended at the end of the sentence (deterministic,
logged) so a price or a name is never silently dropped; duplicated placeholders
keep their first position; invented ones are removed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core.vocabulary import Vocabulary, load_vocabulary
from .languages import resolve_language

log = logging.getLogger(__name__)

_NUM = r"(?<![\d.,])\d{1,3}(?:[,.\u00a0\u202f]\d{3})+(?:[.,]\d+)?|(?<![\d.,])\d+(?:[.,]\d+)?"
_CURRENCY = r"(?:[A-Z]{1,3}\$|[$€£¥￥₩₹₽₺₫฿₱₪])"
_CURRENCY_CODE = r"(?:USD|EUR|GBP|JPY|CNY|RMB|HKD|TWD|KRW|INR|RUB|BRL|MXN|CHF|CAD|AUD)"
_EMOJI_CHAR = r"[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF]"
_EMOJI_MOD = r"[\uFE0F\U0001F3FB-\U0001F3FF]*"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("url", re.compile(r"(?:https?://|www\.)[^\s<>\"'）】]+[^\s<>\"'）】.,;:!?)]")),
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("url", re.compile(
        r"(?<![\w@.])[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:com|net|org|io|co|tv|cn|jp|de|fr|es"
        r"|uk|us|app|shop|live|ly|gg|me)(?:/[^\s]*[^\s.,;:!?)])?(?![\w])"
    )),
    ("handle", re.compile(r"(?<![\w@])@[A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?")),
    ("hashtag", re.compile(r"(?<![\w#])#[^\W\d_][\w]*")),
    ("money", re.compile(rf"{_CURRENCY}\s?(?:{_NUM})|(?:{_NUM})\s?(?:{_CURRENCY}|{_CURRENCY_CODE}\b)")),
    ("money", re.compile(rf"\b{_CURRENCY_CODE}\s?(?:{_NUM})")),
    ("percent", re.compile(rf"(?:{_NUM})\s?[%％‰]")),
    ("time", re.compile(r"(?<!\d)\d{1,2}:\d{2}(?::\d{2})?(?!\d)")),
    ("code", re.compile(r"(?<![\w])(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*(?![\w])")),
    ("number", re.compile(_NUM)),
    ("emoji", re.compile(rf"(?:[\U0001F1E6-\U0001F1FF]{{2}}|{_EMOJI_CHAR}{_EMOJI_MOD}"
                         rf"(?:\u200D{_EMOJI_CHAR}{_EMOJI_MOD})*)+")),
)
_PLACEHOLDER_RE = re.compile(r"[\[［【]\s*(\d{1,3})\s*[\]］】]")
_NO_SPACE_SCRIPTS = ("Hans", "Hant", "Jpan", "Thai", "Khmr", "Mymr", "Laoo", "Tibt")


@dataclass(frozen=True)
class GlossaryTerm:
    """A term to protect: kept as is, or given per target language (FLORES codes)."""

    term: str
    translations: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None  # FLORES code of the language it is matched in; None: any
    ignore_case: bool = False

    def output(self, target_flores: str) -> str:
        return self.translations.get(target_flores, self.term)


@dataclass(frozen=True)
class Span:
    """One protected piece of the source text."""

    start: int
    end: int
    text: str
    kind: str
    term: GlossaryTerm | None = None

    def output(self, target_flores: str) -> str:
        return self.term.output(target_flores) if self.term else self.text


@dataclass(frozen=True)
class Masked:
    """Source text with placeholders, and the spans they stand for (placeholder i+1 = spans[i])."""

    text: str
    spans: tuple[Span, ...]


class Glossary:
    """A user's glossary; an empty one still protects numbers, URLs, handles, emoji."""

    def __init__(self, terms: Iterable[GlossaryTerm] = ()) -> None:
        self.terms = tuple(sorted(terms, key=lambda t: -len(t.term)))  # longest first
        self._patterns = [(t, _term_pattern(t)) for t in self.terms]
        # Tells glossaries apart in the translation cache: the same text translates
        # differently with other terms.
        self.key = hashlib.sha1(repr(self.terms).encode("utf-8")).hexdigest()

    @classmethod
    def from_vocabulary(cls, vocabulary: Vocabulary) -> Glossary:
        """The translation side of a stream's vocabulary (core/vocabulary.py)."""
        return cls(
            GlossaryTerm(t.term, dict(t.translations), t.source, t.ignore_case) for t in vocabulary.terms
        )

    def __len__(self) -> int:
        return len(self.terms)

    def mask(self, text: str, source: str) -> Masked:
        """Replace protected spans of ``text`` (in language ``source``) with placeholders."""
        src = resolve_language(source).flores
        taken: list[Span] = []
        for term, pattern in self._patterns:
            if term.source is None or term.source == src:
                _claim(taken, pattern, text, "term", term)
        for kind, pattern in _PATTERNS:
            _claim(taken, pattern, text, kind, None)
        spans = tuple(sorted(taken, key=lambda s: s.start))
        parts, pos = [], 0
        for i, span in enumerate(spans, start=1):
            parts.append(text[pos : span.start])
            parts.append(f"[{i}]")
            pos = span.end
        parts.append(text[pos:])
        return Masked("".join(parts), spans)

    def restore(self, masked: Masked, translated: str, target: str) -> str:
        """Put the protected spans back into ``translated`` (a translation of masked.text)."""
        tgt = resolve_language(target).flores
        seen: set[int] = set()

        def put_back(match: re.Match[str]) -> str:
            index = int(match.group(1)) - 1
            if not 0 <= index < len(masked.spans) or index in seen:
                return ""  # invented, or a duplicate: the span goes where it came first
            seen.add(index)
            return masked.spans[index].output(tgt)

        out = _PLACEHOLDER_RE.sub(put_back, translated) if masked.spans else translated
        lost = [s for i, s in enumerate(masked.spans) if i not in seen]
        if lost:
            log.warning(
                "translation into %s lost %d protected span(s) %s; appending them",
                target, len(lost), [s.text for s in lost],
            )
            sep = "" if tgt.endswith(_NO_SPACE_SCRIPTS) else " "
            out = out.rstrip() + "".join(sep + s.output(tgt) for s in lost)
        return re.sub(r"[ \t]{2,}", " ", out).strip()


def _term_pattern(term: GlossaryTerm) -> re.Pattern[str]:
    body = re.escape(term.term)
    if re.match(r"\w", term.term[0]) and term.term[0].isascii():
        body = r"(?<!\w)" + body
    if re.match(r"\w", term.term[-1]) and term.term[-1].isascii():
        body += r"(?!\w)"
    return re.compile(body, re.IGNORECASE if term.ignore_case else 0)


def _claim(
    taken: list[Span], pattern: re.Pattern[str], text: str, kind: str, term: GlossaryTerm | None
) -> None:
    for match in pattern.finditer(text):
        start, end = match.span()
        if start == end or any(start < s.end and s.start < end for s in taken):
            continue
        taken.append(Span(start, end, match.group(0), kind, term))


def load_glossary(path: str | Path) -> Glossary:
    """Read a glossary file: ``.json`` or ``.csv`` (see docs/translation.md). The file
    is read by ``livetrans.core.vocabulary``: the same terms bias recognition."""
    return Glossary.from_vocabulary(load_vocabulary(path))
