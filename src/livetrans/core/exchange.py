"""One decode of the window, both ways: the request the recogniser sends, and the
words it takes from the hypothesis that answers it.

The request (:meth:`DecodeExchange.request`) forces the window's final words as the
decoder prefix, with the schedule's beam (schedule.py). Once the utterance's
language is settled it names that language and gives the prompt (context.py: the
vocabulary's terms, then the final text before the window); before, the decoder
detects the language, with no prompt. With the utterance before as context
(context.py), its audio is heard first and its final words are forced before the
window's, and left out of the prompt.

The words taken (:meth:`DecodeExchange.words`): those of the hypothesis that pass
the hallucination guards (guards.py), moved from the decoded audio's time to stream
time, near misses of the vocabulary's terms written as the terms (vocabulary.py),
and placed in the window (window.py: after its unforced context, never before its
last final word).
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import replace

import numpy as np

from ..types import Float32Array, Word
from .context import Context
from .decoding import DecodeRequest, Hypothesis
from .guards import Candidate, GuardOptions, apply_guards
from .language import LanguageVote
from .schedule import DecodeSchedule
from .vocabulary import Vocabulary
from .window import DecodeWindow

__all__ = ["DecodeExchange"]


class DecodeExchange:
    """Requests for decodes of ``window`` and the words taken from their answers, in
    the language ``languages`` settle on, with the beam of ``schedule``, through the
    ``guards``. ``everyday``: the speech model's whole words (Vocabulary.respell)."""

    def __init__(
        self,
        window: DecodeWindow,
        languages: LanguageVote,
        schedule: DecodeSchedule,
        *,
        guards: GuardOptions,
        everyday: Container[str],
    ) -> None:
        self._window = window
        self._languages = languages
        self._schedule = schedule
        self._guards = guards
        self._everyday = everyday

    def request(
        self, audio: Float32Array, vocabulary: Vocabulary, *, final: bool, context: Context | None = None
    ) -> DecodeRequest:
        """A decode of the window's ``audio`` (after ``context``, if given) with the
        final words forced, in the settled language if any. Its prompt, once the
        language is settled: the final text before the window (and before the context's
        words) and the ``vocabulary``."""
        prefix: Sequence[Word] = self._window.forced
        before: Sequence[Word] = ()
        if context is not None:
            audio = np.concatenate([context.audio, audio])
            prefix, before = [*context.words, *prefix], context.words
        language = self._languages.settled_language
        return DecodeRequest(
            audio=audio,
            prompt="" if language is None else self._window.history.prompt(language, vocabulary, before),
            prefix="".join(w.text for w in prefix),
            language=language,
            beam_size=self._schedule.beam_size(final=final),
        )

    def words(
        self, hypothesis: Hypothesis, seconds: float, vocabulary: Vocabulary, *, start: float | None = None
    ) -> list[Word]:
        """The words of ``hypothesis``, a decode of ``seconds`` of audio from stream time
        ``start`` (None: the window's start), that pass the guards, respelt with
        ``vocabulary``, in stream time and in the window."""
        window = self._window
        language = self._languages.settled_language or hypothesis.language
        candidate = Candidate(
            words=hypothesis.words,
            no_speech_probability=hypothesis.no_speech_probability,
            avg_logprob=hypothesis.avg_logprob,
            compression_ratio=hypothesis.compression_ratio,
            seconds=seconds,
            language=language,
            final_text=window.final_text(self._languages.language),
            vocabulary=vocabulary,
            opens_window=not window.finals,
        )
        offset = window.start if start is None else start
        words = [
            replace(w, start=round(offset + w.start, 3), end=round(offset + w.end, 3))
            for w in apply_guards(candidate, self._guards)
        ]
        return window.place(vocabulary.respell(words, language, self._everyday))
