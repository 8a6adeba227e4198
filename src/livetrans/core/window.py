"""The decode window: the audio of the current utterance that the next decode hears.

The window holds the utterance so far and its final words (forced as the decoder
prefix, so they cannot change). It is bounded however long someone talks: past
``trim_after`` seconds it is trimmed at a finished sentence, past ``max_window`` cut
at its last final word; what leaves it goes to the prompt history (its text) and to
the context of the decode at the pause (its audio, :class:`PreviousUtterance`).

A decode may stop right after the forced prefix while speech went on after it (the
prefix ends a sentence, and the decoder takes that for the end of what it heard, and
would until the pause). The window then restarts: it starts again at the final
words of its last ``restart_context`` seconds, which stay as context but are no
longer forced, and the decoder's new spelling of them is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..types import SAMPLE_RATE, Float32Array, Word
from .context import Context, PreviousUtterance, PromptHistory
from .segmenter import ends_sentence
from .stabilizer import join_words, word_key

log = logging.getLogger(__name__)

# The decode at a pause with the utterance before as context hears at most this many
# seconds in all: within the encoder's 20 s input with room to spare.
CONTEXT_MAX_WINDOW = 16.0


@dataclass(frozen=True)
class WindowOptions:
    # Seconds: past this, trim the window at a finished sentence. Shorter decodes
    # faster; longer keeps more of the sentence for the decoder to hear.
    trim_after: float = 12.0
    # Seconds: past this, cut at the last final word (or, with none, slide the window).
    max_window: float = 18.0
    # A decode with nothing after the final words though this many seconds of audio
    # followed them stalled: the window restarts. Shorter restarts on a slow word.
    stall_after: float = 1.0
    # The restarted window keeps the final words of about this many seconds before the
    # stall as unforced context: a word decoded cold in a short window comes out
    # doubtful and is dropped by the guards.
    restart_context: float = 1.0
    # The decode at a pause hears the utterance before it too (its final words forced)
    # if speech resumed within this many seconds of silence. Longer than the pause
    # that closes a sentence: the next sentence of the same talk is heard better after
    # the one before it (docs/benchmarks.md).
    context_pause: float = 2.5
    context_seconds: float = 8.0  # at most this much of the utterance before is heard again
    prompt_chars: int = 200  # final text before the window given as the prompt


class DecodeWindow:
    """The current utterance's audio, its final words, and what comes before it."""

    def __init__(self, options: WindowOptions, *, silent_at_end: float) -> None:
        self.options = options
        self.history = PromptHistory(options.prompt_chars)
        self.previous = PreviousUtterance(
            pause=options.context_pause,
            seconds=options.context_seconds,
            max_window=CONTEXT_MAX_WINDOW,
            silent_at_end=silent_at_end,
        )
        self._audio: list[Float32Array] = []
        self.samples = 0
        self.start = 0.0  # stream seconds of the window's first sample
        self.undecoded_samples = 0  # samples added since the last decode
        self.finals: list[Word] = []  # final words inside the window
        # After a restart, the window's first final words are context only: not
        # forced as the prefix until a word after them becomes final.
        self.unforced = 0

    # -- filling --------------------------------------------------------------------

    def open(self, preroll: Sequence[Float32Array], start: float) -> None:
        """An utterance starts at stream time ``start`` with the ``preroll`` audio."""
        self._audio = list(preroll)
        self.samples = self.undecoded_samples = sum(len(p) for p in preroll)
        self.start = start
        self.finals, self.unforced = [], 0

    def append(self, samples: Float32Array) -> None:
        self._audio.append(samples)
        self.samples += len(samples)
        self.undecoded_samples += len(samples)

    def prepend(self, audio: Float32Array) -> None:
        """Audio from just before the window (the held start of the utterance)."""
        self._audio.insert(0, audio)
        self.samples += len(audio)
        self.undecoded_samples += len(audio)
        self.start -= len(audio) / SAMPLE_RATE

    def close(self, language: str | None, *, end_of_stream: bool) -> list[Float32Array]:
        """The utterance ended: its audio becomes context for the next one (not at the
        end of the stream), its final words prompt history. Returns its audio."""
        audio = self._audio
        if end_of_stream:
            self.previous.forget()
        else:
            self.previous.extend(audio, self.start, self.finals, language)
        self.history.remember(self.finals, language)
        self._audio, self.samples, self.undecoded_samples = [], 0, 0
        self.finals, self.unforced = [], 0
        return audio

    def audio(self) -> Float32Array:
        return np.concatenate(self._audio)

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    @property
    def end(self) -> float:
        """Stream seconds where the window's audio ends."""
        return self.start + self.seconds

    @property
    def final_end(self) -> float:
        """Stream seconds where the window's final words end (its start, with none):
        no word decoded later starts before it."""
        return self.finals[-1].end if self.finals else self.start

    # -- what a decode hears and is given -----------------------------------------------

    @property
    def forced(self) -> list[Word]:
        """The window's final words as the decoder's forced prefix."""
        return [] if self.unforced else self.finals

    def context(self, language: str | None, seconds: float) -> Context | None:
        """The utterance before, as context for a decode of the window's first
        ``seconds`` at a pause."""
        return self.previous.before(self.start, self.start + seconds, language)

    def final_text(self, language: str | None) -> str:
        """The final text so far in ``language``, the window's included."""
        return self.history.text_in(language) + " " + join_words(self.finals)

    def place(self, words: Sequence[Word]) -> list[Word]:
        """Decoded words in stream time as the window takes them: after the unforced
        context, and never before the last final word nor going backwards."""
        placed = self._after_context(words) if self.unforced else list(words)
        return self._monotonic(placed)

    def _after_context(self, words: Sequence[Word]) -> list[Word]:
        """The words after the unforced final words kept as context: the decoder
        spells those again, found by their text or, respelt, by their time."""
        context = self.finals[: self.unforced]
        said = [word_key(w.text) for w in context]
        heard = [word_key(w.text) for w in words]
        for n in range(min(len(said), len(heard)), 0, -1):
            if heard[:n] == said[-n:]:
                words = words[n:]
                break
        end = context[-1].end
        return [w for w in words if (w.start + w.end) / 2 >= end]

    def _monotonic(self, words: Sequence[Word]) -> list[Word]:
        floor = self.final_end
        out: list[Word] = []
        for w in words:
            start = max(w.start, floor)
            end = max(w.end, start)
            out.append(replace(w, start=start, end=end))
            floor = end
        return out

    # -- after a decode -----------------------------------------------------------------

    def commit(self, words: Sequence[Word]) -> None:
        """Words of the window became final."""
        self.finals.extend(words)
        if words:
            self.unforced = 0

    def stalled(self, seconds: float) -> bool:
        """Whether a decode of ``seconds`` that found nothing after the final words
        stopped early: ``stall_after`` seconds of audio followed them."""
        if not self.finals or self.unforced:
            return False
        after = self.start + seconds - self.finals[-1].end
        return after >= self.options.stall_after

    def restart(self, language: str | None) -> None:
        """Start again at the final words of the last ``restart_context`` seconds (at
        least the last word), which stay as unforced context."""
        finals = self.finals
        log.debug("restarting the window after %r", join_words(finals[-3:]))
        since = finals[-1].end - self.options.restart_context
        keep = max(1, sum(1 for w in finals if w.start >= since))
        if keep < len(finals):
            self._cut_after_finals(len(finals) - keep, language)
        self.unforced = len(self.finals)

    def trim(self, language: str | None) -> bool:
        """Keep decoding cost bounded: trim at a finished sentence past ``trim_after``,
        cut at the last final word past ``max_window``. True when the window slid
        with nothing final in it (its agreement must start again)."""
        o = self.options
        seconds = self.seconds
        if seconds > o.max_window and not self.finals:
            # Nothing in this window was ever accepted (noise the VAD took for
            # speech, or every decode dropped): slide it, or it would grow forever.
            self._cut(self.end - o.trim_after)
            return True
        if seconds <= o.trim_after or not self.finals:
            return False
        cut = None
        for i, word in enumerate(self.finals):
            if ends_sentence(word):
                cut = i + 1
        if cut is None and seconds > o.max_window:
            cut = len(self.finals)
        if cut is not None:
            self._cut_after_finals(cut, language)
        return False

    def drop(self, language: str | None) -> None:
        """Drop all the window's audio (it could not be decoded): the window goes on
        from its end, and its final words, already out, go to the prompt history."""
        self.history.remember(self.finals, language)
        self.start += self.seconds
        self._audio, self.samples, self.undecoded_samples = [], 0, 0
        self.finals, self.unforced = [], 0

    def _cut_after_finals(self, count: int, language: str | None) -> None:
        """The window's first ``count`` final words leave it, with their audio."""
        self.history.remember(self.finals[:count], language)
        start = self.start
        cut_off = self._cut(self.finals[count - 1].end)
        # Context for the decode at the pause, as the utterance before a short pause is.
        self.previous.extend([cut_off], start, self.finals[:count], language)
        self.finals = self.finals[count:]
        self.unforced = max(0, self.unforced - count)

    def _cut(self, time: float) -> Float32Array:
        """Drop the window's audio before stream time ``time``; return what was dropped."""
        drop = int(round((time - self.start) * SAMPLE_RATE))
        window = np.concatenate(self._audio)
        audio = window[drop:]
        self._audio = [audio]
        self.samples = len(audio)
        self.start = time
        return window[:drop]
