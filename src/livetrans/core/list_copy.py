"""The prompt-copy guard for a vocabulary: Whisper given a list of terms as its
prompt may copy the list instead of hearing the audio.

:func:`drop_list_copy` drops such a copy from a decode's words. ``Vocabulary.drop_echo``
calls it with the terms that went in the prompt; ``guards.PromptEchoFilter`` runs it
beside the guard against a copy of the final text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Container, Sequence
from typing import TYPE_CHECKING

from ..types import Word
from .respelling import compact
from .text import SENTENCE_END_MARKS

if TYPE_CHECKING:
    from .vocabulary import VocabularyTerm

log = logging.getLogger(__name__)


def drop_list_copy(
    words: Sequence[Word], prompted: Sequence[VocabularyTerm], max_probability: float = 0.5, before: str = ""
) -> list[Word]:
    """``words`` minus a run that copies the ``prompted`` terms, doubted (mean word
    probability under ``max_probability``) with two or more items, one a term at
    least, or however sure with three terms or more. A seller naming three products
    back to back is not worth the risk. A copy is either of:

    - terms back to back in the list's order ("Anker Nano Power Bank, OnePlus 12R",
      :func:`_in_order_run`);
    - terms joined by the prompt's separator, in any order, repeated, or cut short by
      their last character or word, as Whisper copies a list from a hard recording
      ("元气森林、元气森林、蜜雪冰、", :func:`_listed_run`): speech names products with
      "and" between them more often than as a bare list. The items of a list in the
      final text ``before`` (whose end is in the prompt) count as items of a doubted copy:
      Whisper copies its own garbled list again ("泡泡玛特、芒河、" after "泡泡玛特、芒河、
      宜京"), where a seller saying the list again is heard surely."""
    if len(prompted) < 2 or len(words) < 2:
        return list(words)
    terms = [compact(t.term) for t in prompted]
    listed = _listed_items(prompted)
    longest = max(map(len, listed), default=0)
    items = listed | {item for item in _listed_before(before) if len(item) <= longest}
    keys = [compact(w.text) for w in words]
    out: list[Word] = []
    i = 0
    while i < len(words):
        end, count = _in_order_run(keys, i, terms)
        listed_end, found = _listed_run(words, keys, i, items, longest)
        named = sum(item in listed for item in found)
        copied = count
        if (named, listed_end) > (count, end):  # the run with the most terms
            end, count, copied = listed_end, named, len(found)
        run = words[i:end]
        doubted = copied >= 2 and count >= 1 and sum(w.probability for w in run) / len(run) < max_probability
        if count >= 3 or doubted:
            log.debug("dropped a copy of the vocabulary prompt: %r", "".join(w.text for w in run))
            i = end
            continue
        out.append(words[i])
        i += 1
    return out


def _in_order_run(keys: Sequence[str], start: int, terms: Sequence[str]) -> tuple[int, int]:
    """Where a run of consecutive prompt terms spelled from word ``start`` ends, and
    how many terms it holds (the longest such run)."""
    best = (start, 0)
    for first in range(len(terms)):
        pos, k = start, first
        while k < len(terms):
            spelled, j = "", pos
            while j < len(keys) and len(spelled) < len(terms[k]):
                spelled += keys[j]
                j += 1
            if spelled != terms[k]:
                break
            pos, k = j, k + 1
        if k - first > best[1]:
            best = (pos, k - first)
    return best


# What joins the terms in the prompt (:meth:`Vocabulary.prompt`), as Whisper copies it.
LIST_SEPARATORS = (",", "、", "，")
_LIST_SEPARATOR = re.compile(f"[{re.escape(''.join(LIST_SEPARATORS))}]")
_LIST_END = re.compile(f"[{re.escape(SENTENCE_END_MARKS)};；]")  # where a list written before ends


def _listed_items(terms: Sequence[VocabularyTerm]) -> frozenset[str]:
    """The compact spellings a copied list item may take: each term, and the term cut
    short by its last character (a CJK term of three or more) or word (a term of two
    or more words)."""
    items = set()
    for term in terms:
        key = compact(term.term)
        items.add(key)
        if term.cjk and len(key) >= 3:
            items.add(key[:-1])
        elif len(term.term.split()) >= 2:
            items.add(compact(term.term.rsplit(maxsplit=1)[0]))
    return frozenset(items - {""})


def _listed_before(text: str) -> frozenset[str]:
    """The compact items of the lists in ``text``: what comes before a list separator,
    and after one up to the next punctuation ("泡泡玛特、芒河、宜京。" -> 泡泡玛特, 芒河, 宜京)."""
    items: set[str] = set()
    for sentence in _LIST_END.split(text):
        parts = _LIST_SEPARATOR.split(sentence)
        if len(parts) >= 2:
            items.update(compact(part) for part in parts)
    return frozenset(items - {""})


def _listed_run(
    words: Sequence[Word], keys: Sequence[str], start: int, items: Container[str], longest: int
) -> tuple[int, list[str]]:
    """Where a run of list items (``items``, none over ``longest`` letters) from word
    ``start`` ends, each item but the last ending in a list separator, and the items
    it holds."""
    pos, found = start, []
    while pos < len(words):
        end = _item_end(keys, pos, items, longest)
        if end is None:
            break
        found.append("".join(keys[pos:end]))
        pos = end
        if not words[end - 1].text.rstrip().endswith(LIST_SEPARATORS):
            break
    return pos, found


def _item_end(keys: Sequence[str], start: int, items: Container[str], longest: int) -> int | None:
    """The end of the longest span from word ``start`` spelling one of ``items``."""
    spelled, found = "", None
    for j in range(start, len(keys)):
        spelled += keys[j]
        if len(spelled) > longest:
            break
        if spelled in items:
            found = j + 1
    return found
