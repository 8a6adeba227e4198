"""What a decode hears and reads before its window.

:class:`PreviousUtterance`: a phrase after a breath, decoded on its own audio, is
heard cold and often misheard. The recogniser keeps the previous utterance's audio
and final words while the pause after it is short; the decode that makes the next
utterance final hears them too, the words forced as the decoder prefix so they
cannot change. The same holds inside one long utterance: what the recogniser cuts
off its window is added here (``extend``), so the decode at the pause hears the
speech before the cut.

:class:`PromptHistory`: the final text before the window, given as the prompt in the
language it was said in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..types import SAMPLE_RATE, Float32Array, Word
from .decoding import PROMPT_TOKENS, PROMPT_VOCABULARY_TOKENS
from .stabilizer import join_words
from .vocabulary import Vocabulary, char_tokens, estimated_tokens

# Final text kept for prompts (characters): more than any prompt takes.
_HISTORY_CHARS = 1000


@dataclass(frozen=True)
class Context:
    audio: Float32Array  # from the first context word's lead-in to the window's start
    start: float  # stream seconds of audio[0]
    words: tuple[Word, ...]  # the final words in it, forced as the prefix


class PreviousUtterance:
    """Audio and final words of the last utterance, while the pause after it is short."""

    def __init__(self, *, pause: float, seconds: float, max_window: float, silent_at_end: float) -> None:
        self.pause = pause  # seconds of silence after which it is forgotten
        self.seconds = seconds  # at most this much of it is heard again
        self.max_window = max_window  # and with the window, no more than this
        self._silent_at_end = silent_at_end  # silence already in it when it ended (the VAD's)
        self._audio: list[Float32Array] = []
        self._start = 0.0
        self._words: tuple[Word, ...] = ()
        self._language: str | None = None
        self._silence = 0  # samples of silence since it ended

    def keep(self, audio: list[Float32Array], start: float, words: list[Word], language: str | None) -> None:
        """An utterance ended: remember it (forget it if nothing in it became final)."""
        self._audio, self._start, self._words = list(audio), start, tuple(words)
        self._language, self._silence = language, 0
        if not words:
            self.forget()

    def extend(self, audio: list[Float32Array], start: float, words: list[Word], language: str | None) -> None:
        """More of the same speech (a window's audio cut at a final word, or the rest of
        the utterance at its end): added to what is kept if it follows on from it, in
        the same language; otherwise kept instead. At most ``max_window`` seconds stay."""
        kept = np.concatenate(self._audio) if self._audio else np.zeros(0, dtype=np.float32)
        joined = round((start - self._start) * SAMPLE_RATE)
        if not (self._words and words and language == self._language and 0 < joined <= len(kept)):
            self.keep(audio, start, words, language)
            return
        merged = np.concatenate([kept[:joined], *audio])
        self._words, self._silence = self._words + tuple(words), 0
        end = start + sum(len(a) for a in audio) / SAMPLE_RATE
        first = next(i for i, w in enumerate(self._words) if w.start >= end - self.max_window or w is words[-1])
        if first:
            cut = self._words[first - 1].end
            merged = merged[round((cut - self._start) * SAMPLE_RATE) :]
            self._start, self._words = cut, self._words[first:]
        self._audio = [merged]

    @property
    def kept_seconds(self) -> float:
        return sum(len(a) for a in self._audio) / SAMPLE_RATE

    def forget(self) -> None:
        self._audio, self._words = [], ()

    def silence(self, samples: Float32Array) -> None:
        """Audio between utterances: part of the context until the pause is too long."""
        if not self._words:
            return
        self._audio.append(samples)
        self._silence += len(samples)
        if self._silent_at_end + self._silence / SAMPLE_RATE > self.pause:
            self.forget()

    def before(self, window_start: float, window_end: float, language: str | None) -> Context | None:
        """What the decode of the window [window_start, window_end) should hear before
        it, or None: nothing kept, another language, or the window does not follow on."""
        if not self._words or language != self._language:
            return None
        audio = np.concatenate(self._audio)
        joined = round((window_start - self._start) * SAMPLE_RATE)
        if not 0 < joined <= len(audio):
            return None
        words = self._words
        first = len(words)
        while (
            first > 0
            and window_end - words[first - 1].start <= self.max_window
            and window_start - words[first - 1].start <= self.seconds
        ):
            first -= 1
        if first == len(words):
            return None
        start = words[first - 1].end if first else self._start
        skip = round((start - self._start) * SAMPLE_RATE)
        return Context(audio[skip:joined], start, words[first:])


class PromptHistory:
    """The final text before the decode window, and the language it is in."""

    def __init__(self, prompt_chars: int) -> None:
        self.prompt_chars = prompt_chars  # at most this much of it goes in a prompt
        self._text = ""
        self._language: str | None = None

    def remember(self, words: Sequence[Word], language: str | None) -> None:
        """Words that left the window (final), said in ``language``."""
        if not words:
            return
        if language != self._language:
            self._text, self._language = "", language
        self._text = (self._text + " " + join_words(words))[-_HISTORY_CHARS:]

    def text_in(self, language: str | None) -> str:
        """The final text so far, if it is in ``language`` (else none)."""
        return self._text if self._language == language else ""

    def prompt(self, language: str, vocabulary: Vocabulary, before: Sequence[Word] = ()) -> str:
        """The prompt of a decode in ``language``: the vocabulary's terms, then the
        final text before the window (and before the words ``before`` it), only if it
        is in that language: a prompt in another language makes Whisper translate
        into that language."""
        history = self.text_in(language).rstrip()
        ahead = join_words(before)
        if ahead and history.endswith(ahead):
            history = history[: -len(ahead)]
        terms = vocabulary.prompt(language, PROMPT_VOCABULARY_TOKENS)
        history = history[-self.prompt_chars :]
        if terms:  # Whisper keeps a prompt's end: the history gives way to the terms
            history = tail_within(history, PROMPT_TOKENS - estimated_tokens(terms))
        return f"{terms} {history.strip()}".strip()


def tail_within(text: str, tokens: float) -> str:
    """The longest end of ``text`` of about ``tokens`` tokens or fewer (as
    :func:`~livetrans.core.vocabulary.estimated_tokens` counts them), from the start
    of a word: 200 characters of Chinese are about 300 tokens, of English about 50."""
    start, used = len(text), 0.0
    while start > 0 and used + char_tokens(text[start - 1]) <= tokens:
        start -= 1
        used += char_tokens(text[start])
    if 0 < start < len(text) and not text[start - 1].isspace() and text[start].isascii():
        space = text.find(" ", start)  # in a spaced word: from the next one
        start = len(text) if space < 0 else space
    return text[start:]
