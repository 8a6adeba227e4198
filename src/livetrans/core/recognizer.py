"""The streaming recogniser: audio in, decode requests out, hypotheses in, captions out.

A sans-I/O protocol object (flow.py): :class:`StreamingRecognizer` never calls the
speech model. Its decode flows yield requests and receive hypotheses
(``hypothesis = yield request``), so a run of several decodes reads top to bottom;
:class:`~livetrans.core.driver.DecodingRecognizer` answers the requests at once, for
callers that want plain ``push``/``flush``. It orchestrates named parts, each in its
own module with its options group (recognizer_options.py):

- utterance.py: VAD frames, pre-roll, the hold of short sounds, the pause that closes
  a sentence;
- schedule.py: when the window is decoded, how wide;
- window.py and context.py: the decode window (trim, cut, restart), the utterance
  before it and the prompt;
- exchange.py: a decode's request (prefix, prompt, language, beam), and the words
  taken from its answer: through the hallucination guards (guards.py, shared with the
  offline path), respelt, placed in the window;
- language.py and language_flow.py: the language votes, and a close call's decodes;
- commit.py: LocalAgreement and the rules around it;
- captions.py and segmenter.py: the decided words as final and partial captions, and
  sentences.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Container

import numpy as np

from ..types import SAMPLE_RATE, AudioChunk, Float32Array, Word
from .captions import LiveCaptions
from .commit import CommitPolicy
from .decoding import Hypothesis, SpeechProbabilities
from .exchange import DecodeExchange
from .flow import DecodeFailed, DecodeFlowProtocol, Flow, RecognizerEvent, decode_failed
from .language import LanguageVote
from .language_flow import LanguageDecisions
from .recognizer_options import RecognizerOptions
from .schedule import DecodeSchedule
from .segmenter import SentenceSegmenter
from .utterance import UtteranceTracker
from .vocabulary import Vocabulary
from .window import DecodeWindow

__all__ = ["DecodeFailed", "RecognizerEvent", "StreamingRecognizer"]


class StreamingRecognizer(DecodeFlowProtocol):
    """Stage: AudioChunk in → DecodeRequest out, Hypothesis in → CaptionEvent
    (partial, final), SentenceEvent and ErrorEvent out. ``pending``, ``resolve`` and
    ``fail`` are the protocol of flow.py."""

    def __init__(
        self,
        vad: SpeechProbabilities,
        options: RecognizerOptions | None = None,
        vocabulary: Vocabulary | None = None,
        everyday_words: Container[str] = frozenset(),
    ) -> None:
        super().__init__()
        self.options = o = options or RecognizerOptions()
        self.vocabulary = vocabulary or Vocabulary()
        self._next_vocabulary: Vocabulary | None = None
        self._vad = vad
        self._utterance = UtteranceTracker(o.utterance)
        self._schedule = DecodeSchedule(o.schedule)
        self._window = DecodeWindow(o.window, silent_at_end=o.utterance.vad.end_silence)
        self._languages = LanguageVote(o.language_detection, o.language)
        self._decisions = LanguageDecisions(self._languages, beam=o.schedule.beam, guards=o.guards)
        self._exchange = DecodeExchange(
            self._window, self._languages, self._schedule, guards=o.guards, everyday=everyday_words
        )
        self._commit = CommitPolicy(o.commit, min_avg_logprob=o.guards.min_avg_logprob, max_window=o.window.max_window)
        self._segmenter = SentenceSegmenter(o.segmenter)
        self._captions = LiveCaptions(self._segmenter, self._window)
        self._queue: deque[tuple[Float32Array, Float32Array] | None] = deque()  # None: the end
        self._decodes_at_start = 0  # decodes before the current utterance began
        self._grown = False  # the window grew at its start during this decode

    def set_vocabulary(self, vocabulary: Vocabulary) -> None:
        """Replace the stream's vocabulary from the next utterance on (the one being
        decoded keeps its prompt, so its hypotheses stay comparable). Safe to call from
        another thread than the one pushing audio: it only replaces a reference."""
        self._next_vocabulary = vocabulary

    # -- the protocol -------------------------------------------------------------------

    def push(self, chunk: AudioChunk) -> list[RecognizerEvent]:
        """Take the next audio (any length); return the events ready before a decode."""
        samples = chunk.samples.astype(np.float32, copy=False)
        self._queue.append((samples, self._vad.push(samples)))
        return self._run()

    def flush(self) -> list[RecognizerEvent]:
        """End of stream: decode what is pending, make everything final, close the sentence."""
        self._queue.append(None)
        return self._run()

    @property
    def settled_until(self) -> float:
        """Stream seconds before which no new word can appear: the start of the audio
        still held for decoding (the utterance window and the start held back for its
        language, or between utterances the preroll kept for the next one)."""
        if self._utterance.active:
            return max(0.0, self._window.start - self._utterance.held_seconds)
        return max(0.0, self._utterance.frame_start - self._utterance.kept_seconds)

    # -- frames and utterances ----------------------------------------------------------

    def _process(self) -> Flow:
        while self._queue:
            item = self._queue.popleft()
            if item is None:
                yield from self._end_of_stream()
                continue
            samples, probabilities = item
            self._utterance.take(samples)
            for probability in probabilities:
                yield from self._frame(float(probability))
            w = self._window
            gate = self._utterance.gate
            if gate.active and self._schedule.due(
                enough_speech=gate.enough_speech, window_samples=w.samples, undecoded_samples=w.undecoded_samples
            ):
                yield from self._decode(final=False)

    def _frame(self, probability: float) -> Flow:
        frame, transition = self._utterance.frame(probability)
        if transition == "start":
            self._start_utterance()
        if self._utterance.active or transition == "end":
            self._window.append(frame)
        else:
            self._utterance.keep(frame)
            self._window.previous.silence(frame)
        self._utterance.framed()
        if transition == "end":
            yield from self._end_utterance()

    def _start_utterance(self) -> None:
        if self._next_vocabulary is not None:
            self.vocabulary, self._next_vocabulary = self._next_vocabulary, None
        preroll, start = self._utterance.start()
        self._decodes_at_start = self.stats.decodes
        self._window.open(preroll, start)
        self._commit.reset()
        if self._utterance.closes_sentence(self._segmenter.last_word_end):
            self._events.extend(self._segmenter.close())
        # After a sentence, or a pause long enough to close one, detect it again.
        self._languages.new_utterance(keep=self._segmenter.has_open_sentence)
        if self._languages.settled:
            self._put_back_held()

    def _put_back_held(self) -> bool:
        """The held start of this utterance goes back in front of its window."""
        audio = self._utterance.take_held()
        if audio is None:
            return False
        self._window.prepend(audio)
        return True

    def _end_utterance(self) -> Flow:
        gate = self._utterance.gate
        if gate.enough_speech or gate.active:
            yield from self._decode(final=True)
        decoded = self.stats.decodes > self._decodes_at_start
        audio = self._window.close(self._languages.language, end_of_stream=gate.active)
        # Too little speech to decode: kept as the start of the next utterance, if
        # speech resumes soon, rather than dropped.
        self._utterance.end(audio, decoded=decoded)

    def _end_of_stream(self) -> Flow:
        if self._utterance.active:
            rest = self._utterance.rest()
            if len(rest):
                self._window.append(rest)
            yield from self._end_utterance()
        self._events.extend(self._segmenter.close())

    # -- decoding -----------------------------------------------------------------------

    def _decode(self, *, final: bool) -> Flow:
        try:
            yield from self._decoding(final=final)
        except DecodeFailed:
            self._drop_window()

    def _decoding(self, *, final: bool) -> Flow:
        """Decode the window (at a pause: ``final``); the words that pass the guards go
        to the commit policy."""
        while self._window.samples:
            leader = self._languages.leader
            if final and not self._languages.settled and leader is not None:
                # Settled without the held start of the utterance, decoded with it.
                yield from self._decisions.settle(leader, self._window.audio())
                self._language_settled()
            audio = self._window.audio()
            seconds = len(audio) / SAMPLE_RATE
            self._window.undecoded_samples = 0
            self._grown = False
            words: list[Word] = []
            settled = final and self._languages.settled
            context = self._window.context(self._languages.language, seconds) if settled else None
            if context is not None:
                # At a pause, first with the utterance before as context, its final
                # words forced with the window's: a phrase after a breath is not heard cold.
                request = self._exchange.request(audio, self.vocabulary, final=True, context=context)
                answer = yield request
                words = self._exchange.words(answer, request.seconds, self.vocabulary, start=context.start)
            hypothesis = None
            if not words:  # no context, or the decoder gave nothing new with it
                hypothesis = yield self._exchange.request(audio, self.vocabulary, final=final)
                words = self._exchange.words(hypothesis, seconds, self.vocabulary)
            if not words and self._window.stalled(seconds):
                # Speech went on after the last final word, yet the decoder stopped
                # right after the forced prefix: decode again with nothing forced.
                self._window.restart(self._languages.language)
                self._commit.reset()
                continue
            if hypothesis is not None and not self._languages.settled:
                language = yield from self._decisions.vote(hypothesis, audio, final=final)
                if language is not None:
                    self._language_settled()
                    if hypothesis.language != language:
                        words = []  # decoded in a language just ruled out
            self._take(words, hypothesis, seconds, final=final)
            return

    def _take(self, words: list[Word], hypothesis: Hypothesis | None, seconds: float, *, final: bool) -> None:
        """The decoded words through the commit policy: finals to the segmenter, the
        rest as the partial; then the window is kept bounded."""
        language = self._languages.settled_language or (hypothesis.language if hypothesis else "")
        newly_final, tentative = self._commit.decide(
            words,
            avg_logprob=hypothesis.avg_logprob if hypothesis is not None else None,
            final=final,
            provisional=not self._languages.settled or self._grown,
            believable=self._languages.believable(language, seconds),
            has_finals=bool(self._window.finals),
            seconds=seconds,
            end=self._window.end,
            begins_term=functools.partial(self.vocabulary.begins_term, language=language) if self.vocabulary else None,
        )
        self._events.extend(self._captions.take(newly_final, tentative, language))
        if not final and self._window.trim(self._languages.language):
            self._commit.reset()

    def _drop_window(self) -> None:
        """A decode of the window failed twice: its audio is dropped, with an event
        saying what was lost; the utterance goes on with the audio that follows."""
        w = self._window
        self._events.append(decode_failed(w.start, w.end))
        w.drop(self._languages.language)
        self._commit.reset()
        self._events.extend(self._captions.partial([], self._languages.settled_language or ""))

    # -- language -----------------------------------------------------------------------

    def _language_settled(self) -> None:
        """Agreement starts again in the settled language, and the held start of the
        utterance goes back in front of the window."""
        self._commit.reset()
        self._grown = self._put_back_held()
