"""Sentences to subtitle cues: line length, reading speed and time on screen.

A sentence (``SentenceEvent``, with word times) or a translation
(``TranslationEvent``, only the source sentence's start and end) becomes one or
more cues of at most ``max_lines`` lines. Lines hold at most 42 characters, or
16 when most letters are Han, kana or Hangul (the script decides, not the
language code). Han and kana text breaks between characters, never inside a
Latin word embedded in it, and punctuation stays with the character before it;
every other script breaks at spaces.

Where a sentence splits is chosen by a small dynamic program: breaks after
sentence or clause punctuation, at pauses and before conjunctions are preferred,
breaks after articles and prepositions avoided, and cues kept balanced. A
translation has no word times, so its characters share the sentence's time in
proportion to their count.

Timing, in stream seconds: a cue starts with its first word (never earlier), and
its end is extended past its last word until it has been shown ``min_duration``
and can be read at ``max_cps``, but never beyond ``max_duration``, and never
closer than ``min_gap`` to the next cue's start. When the next cue comes too
soon, the rules give way (a short cue stays short, a fast one stays fast):
the next cue's start is never moved for them. Cues never overlap, and their
times never go backwards.

Streaming delay: the last cue of each item is held until the next item in the
same language is pushed (or ``flush``), because that item's start bounds how far
the held cue may be extended. Every other cue is returned by the push that
made it. For cue *files* this costs nothing; live viewers read caption events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

from ..types import Cue, Event, SentenceEvent, TranslationEvent, Word, is_partial


@dataclass(frozen=True)
class CueOptions:
    """How cues are cut and timed; change with ``dataclasses.replace``."""

    max_lines: int = 2  # lines on screen at once
    max_chars_latin: int = 42  # characters per line, space-delimited scripts
    max_chars_cjk: int = 16  # characters per line when most letters are Han, kana or Hangul
    min_duration: float = 0.83  # s, shortest time on screen when the next cue leaves room
    max_duration: float = 7.0  # s, longest time on screen
    max_cps: float = 20.0  # characters per second, reached by extending the end where room allows
    min_gap: float = 0.04  # s, from one cue's end to the next cue's start


# A cue always stays this long on screen, even when the next one comes sooner:
# the next one is then started later than its first word.
_MIN_VISIBLE = 0.1  # s

_SENTENCE_END = set(".!?。！？…‼⁇")
_CLAUSE_END = set(",;:，、；：—–")
_TRAILING_CLOSERS = "\"'”’」』)）]》〉"
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


def _is_han_or_kana(ch: str) -> bool:
    """Scripts written without spaces: a line may break between any two of these."""
    cp = ord(ch)
    return (
        0x3040 <= cp <= 0x30FF  # hiragana, katakana
        or 0x31F0 <= cp <= 0x31FF  # katakana phonetic extensions
        or 0x3400 <= cp <= 0x4DBF  # Han extension A
        or 0x4E00 <= cp <= 0x9FFF  # Han
        or 0xF900 <= cp <= 0xFAFF  # Han compatibility
        or 0xFF66 <= cp <= 0xFF9F  # half-width katakana
        or 0x20000 <= cp <= 0x3FFFF  # Han extensions B and later
    )


def _is_hangul(ch: str) -> bool:
    cp = ord(ch)
    return 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F


def is_cjk_text(text: str) -> bool:
    """True when Han, kana and Hangul characters are at least half the text's units.

    A unit is one such character or one run of other letters (a word), so a
    Latin brand name inside Chinese counts as one, like a Chinese character.
    """
    cjk = other = 0
    in_word = False
    for ch in text:
        if _is_han_or_kana(ch) or _is_hangul(ch):
            cjk, in_word = cjk + 1, False
        elif ch.isalpha():
            other, in_word = other + (not in_word), True
        else:
            in_word = False
    return cjk > 0 and cjk >= other


def max_chars_per_line(text: str, options: CueOptions) -> int:
    """The line limit that applies to ``text``, by its script."""
    return options.max_chars_cjk if is_cjk_text(text) else options.max_chars_latin


@dataclass(frozen=True)
class _Token:
    """The smallest unit a line may break around: a word, or one Han/kana character."""

    text: str  # with the whitespace before it
    start: float  # s
    end: float  # s

    @property
    def body(self) -> str:
        return self.text.lstrip()


@dataclass(frozen=True)
class _Draft:
    """A cue whose end is not fixed yet."""

    start: float  # s, rounded to ms
    natural_end: float  # s, end of its last word
    lines: tuple[str, ...]
    lang: str = ""  # the item's language ("": the track's)


def _break_allowed(text: str, pos: int) -> bool:
    """Whether a token may start at ``text[pos]`` (``0 < pos < len(text)``)."""
    before, after = text[pos - 1], text[pos]
    if after.isspace():
        if before.isspace():
            return False
        rest = text[pos:].lstrip()
        return bool(rest) and rest[0] not in _NO_BREAK_BEFORE
    if before.isspace() or after in _NO_BREAK_BEFORE or before in _NO_BREAK_AFTER:
        return False
    return _is_han_or_kana(before) or _is_han_or_kana(after)


def _char_times(words: Sequence[Word]) -> tuple[str, list[float], list[float]]:
    """The words' text and each character's start and end, never going backwards.

    A word's time is shared by its visible characters in equal parts, so a
    CJK word of several characters can be split between lines.
    """
    parts: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    floor = words[0].start if words else 0.0
    for word in words:
        start = max(word.start, floor)
        end = max(word.end, start)
        floor = start
        lead = len(word.text) - len(word.text.lstrip())
        visible = max(len(word.text) - lead, 1)
        for k in range(len(word.text)):
            m = max(k - lead, 0)
            starts.append(start + (end - start) * m / visible)
            ends.append(start + (end - start) * min(m + 1, visible) / visible)
        parts.append(word.text)
    return "".join(parts), starts, ends


def _tokens(words: Sequence[Word]) -> list[_Token]:
    text, starts, ends = _char_times(words)
    first = len(text) - len(text.lstrip())
    last = len(text.rstrip())
    if first >= last:
        return []
    cuts = [first] + [p for p in range(first + 1, last) if _break_allowed(text, p)] + [last]
    tokens = []
    for a, b in pairwise(cuts):
        lead = len(text[a:b]) - len(text[a:b].lstrip())
        tokens.append(_Token(text[a:b], starts[a + lead], ends[b - 1]))
    return tokens


def _bare_word(text: str) -> str:
    return text.strip().strip("\"'“”‘’«»()[]¿¡.,;:!?…").lower()


def _break_penalty(tokens: Sequence[_Token], pos: int, lang: str) -> float:
    """Cost of ending a line or cue before ``tokens[pos]``: 0 is a perfect break."""
    if pos >= len(tokens):
        return 0.0
    prev = tokens[pos - 1].body.rstrip(_TRAILING_CLOSERS)
    last_char = prev[-1] if prev else ""
    if last_char in _SENTENCE_END:
        return 0.0
    base = lang.split("-")[0].lower()
    if last_char in _CLAUSE_END:
        penalty = 0.2
    elif _bare_word(tokens[pos].text) in _CONJUNCTIONS.get(base, frozenset()):
        penalty = 0.35
    elif _bare_word(prev) in _WEAK_ENDINGS.get(base, frozenset()):
        penalty = 0.8
    else:
        penalty = 0.5
    pause = max(0.0, tokens[pos].start - tokens[pos - 1].end)  # s
    return max(0.0, penalty - 0.6 * pause)  # a pause of 0.84 s is as good as a full stop


class _Layout:
    """One sentence's tokens with what cue planning asks of them in O(1)."""

    def __init__(self, tokens: Sequence[_Token], max_chars: int, lang: str) -> None:
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

        A line holding a single token may overflow: words are never split.
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


def _cue_cost(layout: _Layout, i: int, j: int, count: int, options: CueOptions) -> float:
    """Cost of one cue: a constant (fewer cues), fullness (balanced cues), its break,
    its lines' layout and a penalty for being too short to read."""
    tokens = layout.tokens
    cap = layout.max_chars * options.max_lines
    duration = tokens[j - 1].end - tokens[i].start  # s
    cost = 1.0 + (layout.width(i, j) / cap) ** 2 + layout.penalty[j]
    if count > 1:
        cost += layout.line_cuts(i, j, count)[0]
    return cost + 0.5 * max(0.0, 1.0 - duration / options.min_duration)


def _plan_cues(layout: _Layout, options: CueOptions) -> list[tuple[int, int]]:
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


def _drafts(item: SentenceEvent | TranslationEvent, options: CueOptions) -> list[_Draft]:
    words: Sequence[Word]
    if isinstance(item, SentenceEvent) and item.words:
        words = item.words
    else:
        words = (Word(item.start, max(item.end, item.start), item.text),)
    tokens = _tokens(words)
    if not tokens:
        return []
    max_chars = max_chars_per_line("".join(t.text for t in tokens), options)
    layout = _Layout(tokens, max_chars, item.lang)
    drafts = []
    for i, j in _plan_cues(layout, options):
        lines = layout.lines(i, j)
        natural_end = max(t.end for t in tokens[i:j])
        drafts.append(_Draft(round(tokens[i].start, 3), natural_end, lines, item.lang))
    return drafts


def _finish(draft: _Draft, next_start: float | None, lang: str, options: CueOptions) -> Cue:
    """Fix a cue's end: extended for duration and reading speed, short of the next cue."""
    chars = sum(len(line) for line in draft.lines)
    wanted = max(
        draft.natural_end,
        draft.start + options.min_duration,
        draft.start + chars / options.max_cps,
    )
    end = min(wanted, draft.start + options.max_duration)
    if next_start is not None:
        end = min(end, next_start - options.min_gap)
    return Cue(start=draft.start, end=round(end, 3), lines=draft.lines, lang=draft.lang or lang)


class _Track:
    """The cues of one language: the held cue and the earliest next start."""

    def __init__(self, lang: str, options: CueOptions) -> None:
        self.lang = lang
        self.options = options
        self.held: _Draft | None = None
        self.last_end: float | None = None  # s, end of the last cue returned

    def _earliest_start(self) -> float:
        if self.held is not None:
            return round(self.held.start + _MIN_VISIBLE + self.options.min_gap, 3)
        if self.last_end is not None:
            return round(self.last_end + self.options.min_gap, 3)
        return float("-inf")

    def push(self, drafts: Iterable[_Draft]) -> list[Cue]:
        out = []
        for draft in drafts:
            start = max(draft.start, self._earliest_start())
            if self.held is not None:
                out.append(_finish(self.held, start, self.lang, self.options))
            self.held = replace(draft, start=start)
        return out

    def release(self, until: float) -> list[Cue]:
        """The held cue, if no item starting at ``until`` or later could shorten it."""
        if self.held is None:
            return []
        cue = _finish(self.held, None, self.lang, self.options)
        if cue.end + self.options.min_gap > until:
            return []
        self.held, self.last_end = None, cue.end
        return [cue]

    def flush(self) -> list[Cue]:
        if self.held is None:
            return []
        cue = _finish(self.held, None, self.lang, self.options)
        self.held, self.last_end = None, cue.end
        return [cue]


class CueBuilder:
    """Streaming stage: sentences and translations in, finished cues out.

    One track per language (``Cue.lang`` is the item's ``lang``), so the source
    text and each translation get their own sequence of cues. With
    ``one_source_track``, the sentences of every language share one track instead
    (one sequence of cues, as a source-caption file shows them; each cue keeps its
    sentence's ``lang``). Items of one track are expected in time order; one that starts earlier than the
    previous cue is shown after it instead. Caption events are ignored: their
    words reach the builder again in the sentence they belong to.
    """

    def __init__(self, options: CueOptions | None = None, *, one_source_track: bool = False) -> None:
        self.options = options if options is not None else CueOptions()
        self.one_source_track = one_source_track
        self._tracks: dict[str, _Track] = {}

    def push(self, item: Event) -> list[Cue]:
        """Cues that are final now; the item's last cue is held (see module doc)."""
        if not isinstance(item, (SentenceEvent, TranslationEvent)) or is_partial(item):
            return []
        # ("" is no language code: the shared source track never meets a translation's.)
        key = "" if self.one_source_track and isinstance(item, SentenceEvent) else item.lang
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = _Track(item.lang, self.options)
        return track.push(_drafts(item, self.options))

    def release(self, until: float) -> list[Cue]:
        """Held cues that are final because no item will start before ``until`` (stream
        seconds): the same cues, with the same times, as a later push or ``flush`` gives."""
        return [cue for track in self._tracks.values() for cue in track.release(until)]

    def held_start(self) -> float | None:
        """The earliest start of a held cue (not final yet), or None."""
        starts = [t.held.start for t in self._tracks.values() if t.held is not None]
        return min(starts) if starts else None

    def flush(self) -> list[Cue]:
        """The held cue of every language, at the end of the stream."""
        return [cue for track in self._tracks.values() for cue in track.flush()]


def build_cues(items: Iterable[Event], options: CueOptions | None = None) -> list[Cue]:
    """All cues for a finished stream; each language's cues are in time order."""
    builder = CueBuilder(options)
    cues = [cue for item in items for cue in builder.push(item)]
    return cues + builder.flush()
