"""Per-word latency: when a word was shown, against when it was said.

The moment a word was said is its end time in the *offline* transcript of the same
model on the same audio (offline word timestamps are the more accurate ones, and
they do not depend on the streaming policy being measured). A streaming word
matches an offline word when their normalised text is equal and their midpoints
are within ``tolerance`` seconds; each offline word matches at most once.

- final latency: ``emitted_at`` of the final that carried the word, minus its end;
- partial latency: ``emitted_at`` of the first partial or final that showed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.stabilizer import word_key
from ..types import CaptionEvent, Event, Word


@dataclass(frozen=True)
class LatencyStats:
    final: tuple[float, ...]  # seconds, one per matched word
    partial: tuple[float, ...]
    matched: int  # offline words found among the finals
    total: int  # offline words with text

    def merged(self, other: LatencyStats) -> LatencyStats:
        """Both replays' words pooled."""
        return LatencyStats(
            self.final + other.final, self.partial + other.partial,
            self.matched + other.matched, self.total + other.total,
        )  # fmt: skip

    def summary(self) -> dict[str, float | int | None]:
        def pct(values: tuple[float, ...], q: float) -> float | None:
            return round(float(np.percentile(values, q)), 3) if values else None

        return {
            "final_median": pct(self.final, 50),
            "final_p95": pct(self.final, 95),
            "partial_median": pct(self.partial, 50),
            "partial_p95": pct(self.partial, 95),
            "matched_words": self.matched,
            "reference_words": self.total,
        }


def _mid(word: Word) -> float:
    return (word.start + word.end) / 2


def _first_shown(
    reference: Word, key: str, shown: Sequence[tuple[float, Word]], tolerance: float
) -> float | None:
    for emitted_at, word in shown:
        if word_key(word.text) == key and abs(_mid(word) - _mid(reference)) <= tolerance:
            return emitted_at
    return None


def word_latencies(
    events: Sequence[Event], offline_words: Sequence[Word], tolerance: float = 1.0
) -> LatencyStats:
    captions = [e for e in events if isinstance(e, CaptionEvent)]
    finals = [(e.emitted_at, w) for e in captions if e.kind == "final" for w in e.words]
    shown = sorted(((e.emitted_at, w) for e in captions for w in e.words), key=lambda x: x[0])
    used: set[int] = set()
    final_latency: list[float] = []
    partial_latency: list[float] = []
    total = 0
    for ref in offline_words:
        key = word_key(ref.text)
        if not key:
            continue
        total += 1
        for index, (emitted_at, word) in enumerate(finals):
            if index in used or word_key(word.text) != key:
                continue
            if abs(_mid(word) - _mid(ref)) <= tolerance:
                used.add(index)
                final_latency.append(emitted_at - ref.end)
                first = _first_shown(ref, key, shown, tolerance)
                partial_latency.append((first if first is not None else emitted_at) - ref.end)
                break
    return LatencyStats(tuple(final_latency), tuple(partial_latency), len(final_latency), total)


def translation_latencies(
    events: Sequence[Event], *, first_shown: bool = False
) -> dict[str, list[float]]:
    """Per target language: for every word of every translated sentence, the time
    from the word's end to its sentence's final translation being emitted.

    ``first_shown``: to the first translation that showed the word instead, a draft
    (partial translation) or the final. A draft shows the words that were at least
    half spoken by its own ``end`` (the end of the source text it translated)."""
    from ..types import SentenceEvent, TranslationEvent

    sentences = {e.id: e for e in events if isinstance(e, SentenceEvent)}
    translations: dict[tuple[str, str], list[TranslationEvent]] = {}
    for e in events:
        if isinstance(e, TranslationEvent) and e.id in sentences:
            translations.setdefault((e.id, e.lang), []).append(e)
    out: dict[str, list[float]] = {}
    for (sentence_id, lang), shown in translations.items():
        finals = [t.emitted_at for t in shown if t.kind == "final"]
        if not finals:
            continue
        for w in sentences[sentence_id].words:
            emitted = finals[0]
            if first_shown:
                middle = (w.start + w.end) / 2
                emitted = min([emitted, *(t.emitted_at for t in shown if t.end >= middle)])
            out.setdefault(lang, []).append(emitted - w.end)
    return out
