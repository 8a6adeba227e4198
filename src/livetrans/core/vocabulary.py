"""A stream's product vocabulary: one list of terms for recognition and translation.

The glossary file (``--glossary``, JSON or CSV, docs/translation.md) is read here,
once, into a :class:`Vocabulary`. These parts use it:

- recognition: :meth:`Vocabulary.prompt` is text Whisper gets before its prompt
  history ("Anker Nano Power Bank, OnePlus 12R, Kiehl's."), so a name it would
  mishear is written as the list writes it (faster-whisper's ``hotwords`` is the
  same thing: prompt text, and dropped whenever a prefix is forced, which the
  streaming path always does);
- respelling: :meth:`Vocabulary.respell` writes a recognised near miss of a term
  as the term ("one plus 12 R" -> "OnePlus 12R", "keels" -> "Kiehl's"), by a
  conservative rule (:class:`RespellRule`, with the matching keys in ``respelling``);
- the guards: :meth:`Vocabulary.drop_echo` drops a decode's copy of the prompt's
  list (the rule is in ``list_copy``);
- translation: ``livetrans.mt.glossary`` builds its protected terms from the same
  :class:`VocabularyTerm` objects.

Pure: no model library, no I/O except :func:`load_vocabulary` reading a file.
"""

from __future__ import annotations

import csv
import functools
import json
import logging
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GlossaryError, LanguageError
from ..types import Word
from .list_copy import drop_list_copy
from .respelling import RespellIndex, RespellRule, compact, merged
from .text import has_cjk, is_cjk_language

log = logging.getLogger(__name__)

# The vocabulary's interface: RespellRule (how near misses are respelt) and compact
# (how spellings are compared) come from ``respelling`` and are part of it.
__all__ = [
    "MAX_SOUNDS_LIKE",
    "MAX_TERMS",
    "MAX_TERM_CHARS",
    "MAX_VOCABULARY_BYTES",
    "RespellRule",
    "Vocabulary",
    "VocabularyTerm",
    "compact",
    "estimated_tokens",
    "load_vocabulary",
    "make_term",
    "parse_vocabulary",
    "vocabulary_from_csv",
    "vocabulary_from_json",
]

# Limits: a vocabulary over them is refused with a message, never truncated silently.
MAX_TERMS = 1000  # the prompt holds a few dozen; more is a mistake (a catalogue, not a show)
MAX_TERM_CHARS = 100  # the longest product name we have seen is ~60 characters
MAX_SOUNDS_LIKE = 10  # spellings per term
MAX_VOCABULARY_BYTES = 1 << 20  # a file or message over this is refused before parsing



@dataclass(frozen=True)
class VocabularyTerm:
    """One term: how it is written, what it becomes in each target language, and how
    a near miss of it is recognised."""

    term: str
    translations: Mapping[str, str] = field(default_factory=dict)  # FLORES code -> text
    source: str | None = None  # FLORES code of the language it is said in; None: any
    ignore_case: bool = False  # translation matching only
    respell: bool = True  # False: never rewrite a near miss as this term (prompt only)
    sounds_like: tuple[str, ...] = ()  # spellings that mean this term ("one plus")

    @property
    def cjk(self) -> bool:
        return has_cjk(self.term)


@functools.lru_cache(maxsize=256)
def _flores(code: str) -> str:
    from ..mt.languages import (
        resolve_language,  # a plain table; lazy: mt imports this module
    )

    return resolve_language(code).flores


class Vocabulary:
    """A stream's terms, in the order the list gives them (its priority for the prompt)."""

    def __init__(self, terms: Iterable[VocabularyTerm] = (), rule: RespellRule | None = None) -> None:
        self.terms = tuple(terms)
        self.rule = rule or RespellRule()
        if len(self.terms) > MAX_TERMS:
            raise GlossaryError(
                f"the vocabulary has {len(self.terms)} terms; at most {MAX_TERMS} are allowed: "
                "keep the products of this show"
            )

    def __len__(self) -> int:
        return len(self.terms)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def for_language(self, language: str | None) -> tuple[VocabularyTerm, ...]:
        """Terms that may be said in ``language`` (a Whisper code): those with that
        source, and those with none in a script the language is written in (a CJK term
        is not put to an English decode; a Latin brand goes to every language)."""
        if not language:
            return ()
        return self._for_language(language)

    @functools.lru_cache(maxsize=16)  # noqa: B019 - a vocabulary is immutable and replaced whole
    def _for_language(self, language: str) -> tuple[VocabularyTerm, ...]:
        try:
            flores = _flores(language)
        except LanguageError:
            flores = language
        cjk_language = is_cjk_language(language)
        return tuple(
            t for t in self.terms
            if (t.source == flores) or (t.source is None and (cjk_language or not t.cjk))
        )

    def prompt(self, language: str | None, max_tokens: int = 120) -> str:
        """The terms for ``language`` as Whisper prompt text, in list order, as many as
        fit about ``max_tokens`` tokens (Whisper keeps the last ``PROMPT_TOKENS`` of its prompt, core/decoding.py)."""
        chosen = self.prompt_terms(language, max_tokens)
        if not chosen:
            return ""
        cjk = is_cjk_language(language)
        separator, stop = ("、", "。") if cjk else (", ", ".")
        return separator.join(t.term for t in chosen) + stop

    def prompt_terms(self, language: str | None, max_tokens: int = 120) -> tuple[VocabularyTerm, ...]:
        """The terms :meth:`prompt` writes: the list's first that fit the budget."""
        terms = self.for_language(language)
        chosen: list[VocabularyTerm] = []
        budget = float(max_tokens)
        for term in terms:
            cost = estimated_tokens(term.term) + 1
            if cost > budget:
                break
            chosen.append(term)
            budget -= cost
        if len(chosen) < len(terms):
            log.debug("the prompt holds %d of %d terms for %s", len(chosen), len(terms), language)
        return tuple(chosen)

    def begins_term(self, text: str, language: str | None) -> bool:
        """Whether ``text``, a decoded word, could be the first part of one of
        ``language``'s terms heard in pieces ("the" of "Theragun", "one" of "OnePlus"):
        its letters begin a term's spelling, or a ``sounds_like`` of it, without
        spelling all of it. One Latin letter begins too many to count."""
        key = compact(text)
        if not key or (len(key) < 2 and not has_cjk(key)):
            return False
        return any(len(spelled) > len(key) and spelled.startswith(key) for spelled in self._spellings(language or ""))

    @functools.lru_cache(maxsize=16)  # noqa: B019 - a vocabulary is immutable and replaced whole
    def _spellings(self, language: str) -> tuple[str, ...]:
        """The compact spellings of ``language``'s terms and their ``sounds_like``."""
        return tuple({compact(s) for t in self.for_language(language) for s in (t.term, *t.sounds_like)} - {""})

    def drop_echo(
        self, words: Sequence[Word], language: str | None, max_tokens: int = 120, *, max_probability: float = 0.5,
        before: str = "",
    ) -> list[Word]:
        """``words`` minus a run that copies the prompt's list of terms
        (:func:`~livetrans.core.list_copy.drop_list_copy`, with the terms that fit
        ``max_tokens`` and the lists of the final text ``before``)."""
        return drop_list_copy(words, self.prompt_terms(language, max_tokens), max_probability, before)

    def respell(
        self, words: Sequence[Word], language: str | None, everyday: Container[str] = frozenset()
    ) -> list[Word]:
        """``words`` with near misses of this language's terms written as the terms.
        ``everyday``: words the speech model writes whole (compact spellings, as
        ``WhisperEngine.everyday_words``); one of them alone is never a short term's
        near miss (:class:`RespellRule`)."""
        index = self._index(language or "")
        if index.empty or not words:
            return list(words)
        out: list[Word] = []
        i = 0
        while i < len(words):
            found = index.match(words, i, everyday)
            if found is None:
                out.append(words[i])
                i += 1
                continue
            n, term = found
            out.append(merged(words[i : i + n], term))
            i += n
        return out

    def _index(self, language: str) -> RespellIndex:
        return self._indexes(language)

    @functools.lru_cache(maxsize=16)  # noqa: B019 - a vocabulary is immutable and replaced whole
    def _indexes(self, language: str) -> RespellIndex:
        return RespellIndex.build(self.for_language(language), self.rule, mandarin=language == "zh")


def estimated_tokens(text: str) -> float:
    """About how many Whisper tokens ``text`` takes: ~4 ASCII characters a token,
    a CJK character one or two."""
    return sum(map(char_tokens, text))


def char_tokens(c: str) -> float:
    """A character's share of :func:`estimated_tokens`."""
    return 0.25 if c.isascii() else 1.5


# --------------------------------------------------------------------------- reading


def load_vocabulary(path: str | Path) -> Vocabulary:
    """Read a glossary file: ``.json`` or ``.csv`` (docs/translation.md)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_VOCABULARY_BYTES:
            raise GlossaryError(f"glossary {path} is over {MAX_VOCABULARY_BYTES >> 20} MiB: keep the show's terms")
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise GlossaryError(f"cannot read glossary {path}: {e}") from e
    if path.suffix.lower() == ".csv":
        return vocabulary_from_csv(text, f"glossary {path}")
    if path.suffix.lower() == ".json":
        return vocabulary_from_json(text, f"glossary {path}")
    raise GlossaryError(f"glossary {path} must be a .json or .csv file")


def vocabulary_from_json(text: str, where: str = "vocabulary") -> Vocabulary:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise GlossaryError(f"{where} is not valid JSON: {e}") from e
    return parse_vocabulary(data, where)


def parse_vocabulary(data: Any, where: str = "vocabulary") -> Vocabulary:
    """A vocabulary from parsed JSON: a list of terms, or ``{"terms": [...]}``."""
    items = data.get("terms") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise GlossaryError(f"{where} must hold a list of terms or {{\"terms\": [...]}}")
    _check_count(len(items), where)
    terms = []
    for i, item in enumerate(items):
        at = f"{where}, entry {i + 1}"
        if isinstance(item, str):
            terms.append(make_term(item, {}, None, False, at))
        elif isinstance(item, dict):
            translations = item.get("translations", {})
            if not isinstance(translations, dict):
                raise GlossaryError(f"{at}: 'translations' must map language codes to text")
            sounds_like = item.get("sounds_like", [])
            if isinstance(sounds_like, str):
                sounds_like = [sounds_like]
            if not isinstance(sounds_like, list) or not all(isinstance(s, str) for s in sounds_like):
                raise GlossaryError(f"{at}: 'sounds_like' must be a list of spellings")
            terms.append(make_term(item.get("term"), translations, item.get("source"),
                                   item.get("ignore_case", False), at,
                                   respell=item.get("respell", True), sounds_like=sounds_like))
        else:
            raise GlossaryError(f"{at}: expected a string or an object with 'term'")
    return Vocabulary(terms)


def vocabulary_from_csv(text: str, where: str = "vocabulary") -> Vocabulary:
    """Columns: ``term`` (required), ``source``, ``ignore_case``, ``respell``,
    ``sounds_like`` (spellings separated by ``|``), and one per target language."""
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "term" not in [f.strip() for f in reader.fieldnames]:
        raise GlossaryError(f"{where} needs a header row with a 'term' column")
    special = ("term", "source", "ignore_case", "respell", "sounds_like")
    terms = []
    for line, row in enumerate(reader, start=2):
        _check_count(line - 1, where)
        row = {(k or "").strip(): (v or "") for k, v in row.items()}
        langs = {k: v for k, v in row.items() if k not in special and k}
        respell = row.get("respell", "").strip() or True
        sounds_like = [s for s in row.get("sounds_like", "").split("|") if s.strip()]
        terms.append(make_term(row.get("term"), langs, row.get("source"), row.get("ignore_case", ""),
                               f"{where}, line {line}", respell=respell, sounds_like=sounds_like))
    return Vocabulary(terms)


def _check_count(count: int, where: str) -> None:
    if count > MAX_TERMS:
        raise GlossaryError(f"{where} has over {MAX_TERMS} terms; at most {MAX_TERMS} are allowed: keep the show's terms")


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")


def make_term(
    term: Any,
    translations: Mapping[str, Any],
    source: Any,
    ignore_case: Any,
    where: str,
    *,
    respell: Any = True,
    sounds_like: Sequence[str] = (),
) -> VocabularyTerm:
    """One validated term; ``where`` starts every error message."""
    if not isinstance(term, str) or not term.strip():
        raise GlossaryError(f"{where}: a glossary entry needs a non-empty 'term'")
    term = " ".join(term.split())
    for text in (term, *sounds_like):
        if len(text) > MAX_TERM_CHARS:
            raise GlossaryError(
                f"{where}: {text[:40]!r}... is {len(text)} characters; a term may have at most {MAX_TERM_CHARS}"
            )
    if len(sounds_like) > MAX_SOUNDS_LIKE:
        raise GlossaryError(f"{where}: at most {MAX_SOUNDS_LIKE} 'sounds_like' spellings per term")
    try:
        mapped = {
            _flores(str(code)): str(value)
            for code, value in translations.items()
            if str(value).strip()
        }
        src = _flores(str(source)) if source else None
    except LanguageError as e:
        raise GlossaryError(f"{where}: {e}") from e
    return VocabularyTerm(
        term=term,
        translations=mapped,
        source=src,
        ignore_case=_flag(ignore_case),
        respell=respell if isinstance(respell, bool) else _flag(respell),
        sounds_like=tuple(" ".join(s.split()) for s in sounds_like if s.strip()),
    )
