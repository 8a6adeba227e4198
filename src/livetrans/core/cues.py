"""Sentences to subtitle cues: line length, reading speed and time on screen.

A sentence (``SentenceEvent``, with word times) or a translation
(``TranslationEvent``, only the source sentence's start and end) becomes one or
more cues of at most ``max_lines`` lines. Lines hold at most 42 characters, or
16 when most letters are Han, kana or Hangul (the script decides, not the
language code). Han and kana text breaks between characters, never inside a
Latin word embedded in it, and punctuation stays with the character before it;
every other script breaks at spaces.

Where a sentence splits is chosen by a small dynamic program (``cue_layout``):
breaks after sentence or clause punctuation, at pauses and before conjunctions
are preferred, breaks after articles and prepositions avoided, and cues kept
balanced. A
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

from ..types import Cue, Event, SentenceEvent, TranslationEvent, Word, is_partial
from .cue_layout import Layout, max_chars_per_line, plan_cues, tokenize


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

@dataclass(frozen=True)
class _Draft:
    """A cue whose end is not fixed yet."""

    start: float  # s, rounded to ms
    natural_end: float  # s, end of its last word
    lines: tuple[str, ...]
    lang: str = ""  # the item's language ("": the track's)


def _drafts(item: SentenceEvent | TranslationEvent, options: CueOptions) -> list[_Draft]:
    words: Sequence[Word]
    if isinstance(item, SentenceEvent) and item.words:
        words = item.words
    else:
        words = (Word(item.start, max(item.end, item.start), item.text),)
    tokens = tokenize(words)
    if not tokens:
        return []
    max_chars = max_chars_per_line("".join(t.text for t in tokens), options)
    layout = Layout(tokens, max_chars, item.lang)
    drafts = []
    for i, j in plan_cues(layout, options):
        lines = layout.lines(i, j)
        natural_end = max(t.end for t in layout.tokens[i:j])
        drafts.append(_Draft(round(layout.tokens[i].start, 3), natural_end, lines, item.lang))
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
