"""Where a sentence's lines and cues break: tokens, break rules and the plan.

A sentence is cut into tokens (words, or single Han and kana characters) that a
line may break around; each break has a cost (none after a sentence end, little
after a clause or before a conjunction, much after an article or preposition),
and a small dynamic program picks the cues that cost least: few, balanced, each
within ``max_lines`` lines of ``max_chars_per_line`` characters and
``max_duration`` seconds. Timing is ``cues``' business.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

from ..types import Word
from .text import (
    CLAUSE_END_MARKS,
    CLOSING_MARKS,
    HAN_OR_KANA_RE,
    SENTENCE_END_MARKS,
    is_cjk_text,
    is_han_or_kana,
)

if TYPE_CHECKING:
    from .cues import CueOptions

# Characters that may not begin a line (they stay with the character before)
# and characters that may not end one (they stay with the character after).
_NO_BREAK_BEFORE = set(",.!?:;)]}%，。、．！？：；）」』》〉】〕”’…‥・ー〜々")
_NO_BREAK_BEFORE |= set("ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ")  # small kana
_NO_BREAK_AFTER = set("([{（「『《〈【〔“‘¿¡")

# Breaking before these is good; breaking after the weak words (articles,
# prepositions, possessives) is poor. Keyed by the language's primary subtag.
_CONJUNCTION_WORDS = {
    "en": "and but or so because which that who when while if although though where since until",
    "es": "y e pero o u porque que cuando aunque si donde mientras pues",
    "fr": "et mais ou parce que quand si donc car lorsque puisque qui",
    "de": "und aber oder weil dass wenn als ob denn sondern während",
    "pt": "e mas ou porque que quando se embora enquanto onde",
    "it": "e ma o perché che quando se mentre dove",
    "ru": "и но или потому что когда если хотя чтобы который которые где",
}
_WEAK_WORDS = {
    "en": "the a an of to in on at for with by from my your his her our their this these those its",
    "es": "el la los las un una unos unas de del al a en con por para mi su sus tu",
    "fr": "le la les un une des de du au aux à en avec pour par sur mon ma mes son sa ses",
    "de": "der die das den dem des ein eine einen einem einer zu mit von für auf in an",
    "pt": "o a os as um uma de do da dos das em no na com por para",
    "it": "il lo la i gli le un una di del della a in con per su",
    "ru": "в на с к о по из за от до у",
}
_CONJUNCTIONS = {lang: frozenset(words.split()) for lang, words in _CONJUNCTION_WORDS.items()}
_WEAK_ENDINGS = {lang: frozenset(words.split()) for lang, words in _WEAK_WORDS.items()}


def max_chars_per_line(text: str, options: CueOptions) -> int:
    """The line limit that applies to ``text``, by its script."""
    return options.max_chars_cjk if is_cjk_text(text) else options.max_chars_latin


@dataclass(frozen=True)
class Token:
    """The smallest unit a line may break around: a word, or one Han/kana character."""

    text: str  # with the whitespace before it
    start: float  # s
    end: float  # s

    @property
    def body(self) -> str:
        return self.text.lstrip()


def _break_allowed(text: str, pos: int) -> bool:
    """Whether a token may start at ``text[pos]`` (``0 < pos < len(text)``)."""
    before, after = text[pos - 1], text[pos]
    if after.isspace():
        if before.isspace():
            return False
        nxt = _NEXT_VISIBLE_RE.search(text, pos)
        return nxt is not None and nxt.group() not in _NO_BREAK_BEFORE
    if before.isspace() or after in _NO_BREAK_BEFORE or before in _NO_BREAK_AFTER:
        return False
    return is_han_or_kana(before) or is_han_or_kana(after)


_NEXT_VISIBLE_RE = re.compile(r"\S")
# Where text without Han or kana may break: at the first space before a word that
# may begin a line (the same rule as _break_allowed, found in one pass).
_SPACE_BREAK_RE = re.compile(
    r"(?<=\S)\s+(?=[^\s" + "".join(re.escape(ch) for ch in sorted(_NO_BREAK_BEFORE)) + "])"
)


def _break_positions(text: str, first: int, last: int) -> list[int]:
    if HAN_OR_KANA_RE.search(text) is None:
        return [m.start() for m in _SPACE_BREAK_RE.finditer(text, first, last)]
    return [p for p in range(first + 1, last) if _break_allowed(text, p)]


class _CharClock:
    """Each character's start and end, never going backwards.

    A word's time is shared by its visible characters in equal parts, so a
    CJK word of several characters can be split between lines.
    """

    def __init__(self, words: Sequence[Word]) -> None:
        self.text = "".join(word.text for word in words)
        self._offsets: list[int] = []  # where each word's text begins in ``text``
        self._spans: list[tuple[float, float, int, int]] = []  # start, end, lead, visible
        floor = words[0].start if words else 0.0
        offset = 0
        for word in words:
            start = max(word.start, floor)
            end = max(word.end, start)
            floor = start
            lead = len(word.text) - len(word.text.lstrip())
            self._offsets.append(offset)
            self._spans.append((start, end, lead, max(len(word.text) - lead, 1)))
            offset += len(word.text)

    def _time(self, pos: int, after: bool) -> float:
        w = bisect_right(self._offsets, pos) - 1
        start, end, lead, visible = self._spans[w]
        m = max(pos - self._offsets[w] - lead, 0)
        if after:
            m = min(m + 1, visible)
        return start + (end - start) * m / visible

    def start(self, pos: int) -> float:
        return self._time(pos, after=False)

    def end(self, pos: int) -> float:
        return self._time(pos, after=True)


def tokenize(words: Sequence[Word]) -> list[Token]:
    clock = _CharClock(words)
    text = clock.text
    first = len(text) - len(text.lstrip())
    last = len(text.rstrip())
    if first >= last:
        return []
    cuts = [first, *_break_positions(text, first, last), last]
    tokens = []
    for a, b in pairwise(cuts):
        lead = len(text[a:b]) - len(text[a:b].lstrip())
        tokens.append(Token(text[a:b], clock.start(a + lead), clock.end(b - 1)))
    return tokens


def _bare_word(text: str) -> str:
    return text.strip().strip("\"'“”‘’«»()[]¿¡.,;:!?…").lower()


def _break_penalty(tokens: Sequence[Token], pos: int, lang: str) -> float:
    """Cost of ending a line or cue before ``tokens[pos]``: 0 is a perfect break."""
    if pos >= len(tokens):
        return 0.0
    prev = tokens[pos - 1].body.rstrip(CLOSING_MARKS)
    last_char = prev[-1] if prev else ""
    if last_char and last_char in SENTENCE_END_MARKS:
        return 0.0
    base = lang.split("-")[0].lower()
    if last_char and last_char in CLAUSE_END_MARKS:
        penalty = 0.2
    elif _bare_word(tokens[pos].text) in _CONJUNCTIONS.get(base, frozenset()):
        penalty = 0.35
    elif _bare_word(prev) in _WEAK_ENDINGS.get(base, frozenset()):
        penalty = 0.8
    else:
        penalty = 0.5
    pause = max(0.0, tokens[pos].start - tokens[pos - 1].end)  # s
    return max(0.0, penalty - 0.6 * pause)  # a pause of 0.84 s is as good as a full stop


def split_overlong(tokens: Sequence[Token], max_chars: int) -> list[Token]:
    """Tokens with every word longer than a whole line cut into line-long pieces
    (a URL, a long compound, a model's runaway token): no player can show a line
    wider than the screen, so a hard break is the lesser evil. Each piece gets its
    share of the word's time."""
    out: list[Token] = []
    for token in tokens:
        body = token.body
        if len(body) <= max_chars:
            out.append(token)
            continue
        lead = token.text[: len(token.text) - len(body)]
        pieces = [body[k : k + max_chars] for k in range(0, len(body), max_chars)]
        step = (token.end - token.start) / len(pieces)
        for n, piece in enumerate(pieces):
            start = token.start + n * step
            out.append(Token((lead if n == 0 else "") + piece, start, start + step))
    return out


class Layout:
    """One sentence's tokens with what cue planning asks of them in O(1)."""

    def __init__(self, tokens: Sequence[Token], max_chars: int, lang: str) -> None:
        tokens = split_overlong(tokens, max_chars)
        self.tokens = tokens
        self.max_chars = max_chars
        self._prefix = [0]
        for t in tokens:
            self._prefix.append(self._prefix[-1] + len(t.text))
        self.penalty = [_break_penalty(tokens, k, lang) for k in range(len(tokens) + 1)]

    def width(self, i: int, j: int) -> int:
        """Characters of ``tokens[i:j]`` on one line."""
        return (
            self._prefix[j]
            - self._prefix[i]
            - (len(self.tokens[i].text) - len(self.tokens[i].body))
        )

    def text(self, i: int, j: int) -> str:
        return "".join(t.text for t in self.tokens[i:j]).strip()

    def line_count(self, i: int, j: int) -> int:
        """Fewest lines ``tokens[i:j]`` can take (first fit is optimal for this)."""
        lines, used = 1, len(self.tokens[i].body)
        for t in self.tokens[i + 1 : j]:
            if used + len(t.text) <= self.max_chars:
                used += len(t.text)
            else:
                lines, used = lines + 1, len(t.body)
        return lines

    def line_cuts(self, i: int, j: int, count: int) -> tuple[float, list[int]]:
        """The best cuts laying ``tokens[i:j]`` on ``count`` balanced lines, and their cost.

        A word longer than a line was split beforehand (split_overlong); no other
        word is ever split.
        """
        target = self.width(i, j) / count
        layers: list[dict[int, tuple[float, int]]] = [{i: (0.0, i)}]  # end -> (cost, start)
        for m in range(1, count + 1):
            layer: dict[int, tuple[float, int]] = {}
            for k in [j] if m == count else range(i + 1, j):
                for p, (cost, _) in layers[-1].items():
                    width = self.width(p, k) if p < k else self.max_chars + 1
                    if p >= k or (width > self.max_chars and k - p > 1):
                        continue
                    total = cost + ((width - target) / self.max_chars) ** 2
                    total += self.penalty[k] if k < j else 0.0
                    if k not in layer or total < layer[k][0]:
                        layer[k] = (total, p)
            layers.append(layer)
        cuts, k = [j], j
        for layer in reversed(layers[1:]):
            k = layer[k][1]
            cuts.append(k)
        return layers[-1][j][0], cuts[::-1]

    def lines(self, i: int, j: int) -> tuple[str, ...]:
        _, cuts = self.line_cuts(i, j, self.line_count(i, j))
        return tuple(self.text(a, b) for a, b in pairwise(cuts))


def _cue_cost(layout: Layout, i: int, j: int, count: int, options: CueOptions) -> float:
    """Cost of one cue: a constant (fewer cues), fullness (balanced cues), its break,
    its lines' layout and a penalty for being too short to read."""
    tokens = layout.tokens
    cap = layout.max_chars * options.max_lines
    duration = tokens[j - 1].end - tokens[i].start  # s
    cost = 1.0 + (layout.width(i, j) / cap) ** 2 + layout.penalty[j]
    if count > 1:
        cost += layout.line_cuts(i, j, count)[0]
    return cost + 0.5 * max(0.0, 1.0 - duration / options.min_duration)


def plan_cues(layout: Layout, options: CueOptions) -> list[tuple[int, int]]:
    """Where the cues of one sentence begin and end (token index ranges)."""
    tokens = layout.tokens
    n = len(tokens)
    best: list[tuple[float, int]] = [(0.0, 0)] + [(float("inf"), 0)] * n
    for i in range(n):
        if best[i][0] == float("inf"):
            continue
        for j in range(i + 1, n + 1):
            count = layout.line_count(i, j)
            too_long = tokens[j - 1].end - tokens[i].start > options.max_duration
            if j > i + 1 and (too_long or count > options.max_lines):
                break
            cost = best[i][0] + _cue_cost(layout, i, j, count, options)
            if cost < best[j][0]:
                best[j] = (cost, i)
    ranges, j = [], n
    while j > 0:
        ranges.append((best[j][1], j))
        j = best[j][1]
    return ranges[::-1]
