"""TranslationStage: each final sentence into every target language, as TranslationEvents.

Pure orchestration over a :class:`Translator` (no model import here): protect spans,
one batched call for all the targets that need one, restore spans, cache. The
pipeline runs it in its own worker thread behind a bounded queue so recognition is
never held up by translation.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Sequence

from ..core.vocabulary import Vocabulary
from ..errors import LanguageError
from ..types import CaptionKind, SentenceEvent, TranslationEvent
from .base import Translator
from .glossary import Glossary
from .languages import resolve_language

log = logging.getLogger(__name__)


def normalize_text(text: str) -> str:
    """The cache key form of a sentence: NFC, whitespace collapsed, ends stripped."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def _events(
    sentence: SentenceEvent, src: str, text: str, wanted: list[str],
    results: dict[tuple[str, str, str], str], kind: CaptionKind,
) -> list[TranslationEvent]:
    """A sentence's translations, one event per target that has one."""
    return [
        TranslationEvent(
            id=sentence.id,
            lang=target,
            source_lang=sentence.lang,
            text=results[(src, text, target)],
            start=sentence.start,
            end=sentence.end,
            kind=kind,
        )
        for target in wanted
        if (src, text, target) in results
    ]


class TranslationStage:
    """SentenceEvent in, one TranslationEvent per target language out.

    - A target in the sentence's own language is skipped: that viewer reads the source.
    - Sentences repeated word for word (slogans, prices) come from an LRU cache keyed
      on (source language, normalized text, target); ``cache_hits``/``cache_misses``
      count them.
    - A sentence in a source language the model lacks (a detected language switch) is
      skipped with a warning and counted in ``skipped``; pairs are checked up front
      with :meth:`check`.
    ``seq`` and ``emitted_at`` are left for the pipeline to stamp.
    """

    def __init__(
        self,
        translator: Translator,
        targets: Sequence[str],
        *,
        glossary: Glossary | None = None,
        cache_size: int = 1024,
    ) -> None:
        if not targets:
            raise LanguageError("no target language given: pass --to with codes such as es,fr")
        self.translator = translator
        self.targets = tuple(t.strip() for t in targets)
        self._flores = {t: resolve_language(t).flores for t in self.targets}
        self.glossary = glossary if glossary is not None else Glossary()
        self.cache_size = cache_size
        # (source, text, target, glossary.key) -> translation
        self._cache: OrderedDict[tuple[str, str, str, str], str] = OrderedDict()
        self._live_glossaries: dict[int, tuple[Vocabulary, Glossary]] = {}  # id(vocabulary) ->
        self.cache_hits = 0
        self.cache_misses = 0
        self.skipped = 0
        self.calls = 0  # translator calls made (one per push with any cache miss)
        self.cancelled = 0  # draft calls stopped early for a finished sentence

    def check(self, source: str | None) -> None:
        """Refuse, before any audio, a pair the model cannot do (LanguageError)."""
        self.translator.check_pairs(source, self.targets)

    def push(self, sentence: SentenceEvent, vocabulary: Vocabulary | None = None) -> list[TranslationEvent]:
        return self.push_many([sentence], vocabulary)

    def push_many(
        self, sentences: Sequence[SentenceEvent], vocabulary: Vocabulary | None = None
    ) -> list[TranslationEvent]:
        """Translate several sentences (a backlog drained from the queue) with one
        translator call per source language: N sentences × M targets cost far less in
        one batch than one by one. Events come out sentence by sentence, targets in order.

        ``vocabulary``: the stream's, when it was replaced live; its terms then stand
        for the stage's glossary (the stage is shared between streams)."""
        return [e for events in self.push_each(sentences, vocabulary) for e in events]

    def push_each(
        self, sentences: Sequence[SentenceEvent], vocabulary: Vocabulary | None = None
    ) -> list[list[TranslationEvent]]:
        """As :meth:`push_many`, the events of each sentence apart (in order; [] for one
        not translated), so that the sentences of several streams can share one call."""
        return self._push(sentences, "final", None, self._glossary_of(vocabulary))

    def push_draft(
        self,
        sentence: SentenceEvent,
        cancel: Callable[[], bool] | None = None,
        vocabulary: Vocabulary | None = None,
    ) -> list[TranslationEvent] | None:
        """Translate an unfinished sentence (its text so far) into partial events.

        The result is cached like a final's, so when the sentence ends with exactly
        this text its final translation costs nothing. ``cancel`` (polled while
        decoding) stops the work early: then the result is None (nothing shown or
        cached), so that a finished sentence waiting goes first. A draft in a language
        the model lacks gives [] and no warning (its final sentence reports it).
        """
        stopped_before = self.cancelled
        (events,) = self._push([sentence], "partial", cancel, self._glossary_of(vocabulary))
        return None if self.cancelled > stopped_before else events

    def _glossary_of(self, vocabulary: Vocabulary | None) -> Glossary:
        if vocabulary is None:
            return self.glossary
        cached = self._live_glossaries.get(id(vocabulary))
        if cached is None or cached[0] is not vocabulary:
            if len(self._live_glossaries) >= 64:  # a few per stream at most; forget the oldest
                self._live_glossaries.pop(next(iter(self._live_glossaries)))
            cached = (vocabulary, Glossary.from_vocabulary(vocabulary))
            self._live_glossaries[id(vocabulary)] = cached
        return cached[1]

    def _push(
        self,
        sentences: Sequence[SentenceEvent],
        kind: CaptionKind,
        cancel: Callable[[], bool] | None,
        glossary: Glossary,
    ) -> list[list[TranslationEvent]]:
        """One list of events per sentence, in order."""
        quiet = kind == "partial"
        jobs: list[tuple[SentenceEvent, str, str, list[str]] | None] = []  # None: not translated
        work: dict[tuple[str, tuple[str, ...]], list[tuple[str, str]]] = {}  # -> [(lang, text)]
        results: dict[tuple[str, str, str], str] = {}  # (src, text, target) -> translation
        for sentence in sentences:
            text = normalize_text(sentence.text)
            jobs.append(None)
            if not text:
                continue
            try:
                src = resolve_language(sentence.lang).flores
            except LanguageError:
                if not quiet:
                    self._skip(sentence, "unknown language code")
                continue
            wanted = [t for t in self.targets if self._flores[t] != src]
            misses = []
            for target in wanted:
                key = (src, text, target)
                cached = results.get(key) or self._cache_get((src, text, self._flores[target], glossary.key))
                if cached is None:
                    misses.append(target)
                else:
                    results[key] = cached
            if misses:
                try:
                    self.translator.check_pairs(sentence.lang, misses)
                except LanguageError as e:
                    if not quiet:
                        self._skip(sentence, str(e))
                    continue
                batch = work.setdefault((src, tuple(misses)), [])
                if (sentence.lang, text) not in batch:
                    batch.append((sentence.lang, text))
            jobs[-1] = (sentence, src, text, wanted)
        for (src, group_targets), batch in work.items():
            self._translate(src, list(group_targets), batch, results, cancel, glossary)
        return [[] if job is None else _events(*job, results, kind) for job in jobs]

    def _translate(
        self, src: str, targets: list[str], batch: list[tuple[str, str]],
        results: dict[tuple[str, str, str], str],
        cancel: Callable[[], bool] | None = None,
        glossary: Glossary | None = None,
    ) -> None:
        glossary = glossary if glossary is not None else self.glossary
        source = batch[0][0]
        masked = [glossary.mask(text, source) for _, text in batch]
        texts = [m.text for m in masked]
        translated = self.translator.translate_batch(texts, source, targets, cancel)
        self.calls += 1
        if cancel is not None and cancel():
            self.cancelled += 1
            return  # cut short: nothing to show or cache
        for target in targets:
            for (_, text), m, out in zip(batch, masked, translated[target]):
                restored = glossary.restore(m, out, target)
                results[(src, text, target)] = restored
                self._cache_put((src, text, self._flores[target], glossary.key), restored)

    def flush(self) -> list[TranslationEvent]:
        return []  # every sentence is translated when pushed: nothing is held back

    def _skip(self, sentence: SentenceEvent, why: str) -> list[TranslationEvent]:
        self.skipped += 1
        log.warning("not translating sentence %s (%s): %s", sentence.id, sentence.lang, why)
        return []

    def _cache_get(self, key: tuple[str, str, str, str]) -> str | None:
        if self.cache_size <= 0:
            self.cache_misses += 1
            return None
        value = self._cache.get(key)
        if value is None:
            self.cache_misses += 1
            return None
        self._cache.move_to_end(key)
        self.cache_hits += 1
        return value

    def _cache_put(self, key: tuple[str, str, str, str], value: str) -> None:
        if self.cache_size <= 0:
            return
        self._cache[key] = value
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
