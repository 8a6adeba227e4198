"""The streaming recogniser: audio chunks in, partial/final captions and sentences out.

How it works, per stream:

1. Every 32 ms frame gets a speech probability (Silero VAD) and goes through the
   :class:`VadGate`. Silence is never decoded; a short pre-roll is kept so an
   utterance's first syllable is not clipped, and a sound too short to decode on
   its own ("However,") is put back in front of speech that follows within
   ``blip_hold``, once that speech's language is settled.
2. While someone speaks, the audio of the utterance so far (the *window*) is decoded
   whenever at least ``step`` seconds of new audio arrived. Words already final are
   forced as the decoder prefix, final text before the window is the prompt.
3. :class:`LocalAgreementStabilizer` turns successive hypotheses into final words;
   the rest is shown as a partial; a decode that lost its way (average
   log-probability below ``min_avg_logprob``) takes no part. The decodes use beam
   search (``beam``): agreement cannot catch a mistake that every greedy decode
   repeats, and beam search makes fewer of them. When the VAD hears a pause the
   window is decoded once more, at least as wide (``final_beam``) since nothing will
   confirm it, and everything in it becomes final; if speech resumed within
   ``context_pause`` of the utterance before, that decode hears it too (its final
   words forced as the prefix), so a phrase after a breath is not decoded without
   the words that lead into it. A decode that stops right after the forced prefix
   while speech went on starts the window again at the final words of its last
   ``restart_context`` seconds, heard as context but not forced.
4. The window is trimmed at a finished sentence once it is longer than
   ``trim_after`` and cut at the last final word past ``max_window``, so decoding
   cost stays bounded however long someone talks; what was cut off is kept as
   context for the decode at the pause, like the utterance before a breath.

Catching up: a caller that was busy hands over all the audio that arrived meanwhile
in one ``push``; the recogniser decodes once for all of it rather than once per
chunk, so latency stays bounded when decoding is slower than real time.

Nothing here imports a model library: the decoder and VAD come in as protocols.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from ..types import (
    SAMPLE_RATE,
    AudioChunk,
    CaptionEvent,
    Float32Array,
    SentenceEvent,
    Word,
)
from .context import PreviousUtterance
from .language import LanguageOptions, LanguageVote
from .segmenter import SegmenterOptions, SentenceSegmenter, ends_sentence
from .stabilizer import (
    LocalAgreementStabilizer,
    drop_echo,
    is_phantom,
    join_words,
    trim_repetition,
    word_key,
)
from .vad import VadGate, VadOptions
from .vocabulary import Vocabulary

log = logging.getLogger(__name__)

FRAME_SAMPLES = 512  # one VAD frame, 32 ms

RecognizerEvent = CaptionEvent | SentenceEvent


@dataclass(frozen=True)
class Hypothesis:
    """One decode of a window. Word times are seconds from the window's start."""

    prefix_words: tuple[Word, ...]  # the forced prefix, re-aligned
    words: tuple[Word, ...]  # new words after the prefix
    language: str
    language_probability: float
    no_speech_probability: float
    avg_logprob: float
    compression_ratio: float
    language_probabilities: tuple[tuple[str, float], ...] = ()  # the top few, best first


class Decoder(Protocol):
    def decode(
        self,
        audio: Float32Array,
        *,
        prompt: str,
        prefix: str,
        language: str | None,
        beam_size: int = 1,
    ) -> Hypothesis: ...


class SpeechProbabilities(Protocol):
    def push(self, samples: Float32Array) -> Float32Array: ...


@dataclass(frozen=True)
class RecognizerOptions:
    language: str | None = None  # None: detect per utterance
    step: float = 0.5  # seconds of new speech before the window is decoded again
    min_window: float = 1.0  # seconds of utterance before its first decode
    first_final_window: float = 2.0  # nothing in a window becomes final before this long
    trim_after: float = 12.0  # seconds: past this, trim the window at a finished sentence
    max_window: float = 18.0  # seconds: past this, cut at the last final word
    agreement: int = 2  # LocalAgreement-n
    # Beam size of the running decodes. Greedy decoding repeats its own mistakes, and two
    # greedy hypotheses agree on them; beam 3 makes fewer (docs/benchmarks.md).
    beam: int = 3
    # Beam size of the decode at a pause, whose words all become final with no later
    # hypothesis to confirm them: as wide as the offline path searches (one such
    # decode per pause, so the cost is small; docs/benchmarks.md).
    final_beam: int = 5
    prompt_chars: int = 200  # final text before the window given as the prompt
    # The stream's vocabulary goes before that text in the prompt, as many terms as fit
    # about this many tokens (Whisper keeps the last 223; vocabulary.py).
    vocabulary_tokens: int = 120
    # When detection settles the language; nothing becomes final before (language.py).
    language_detection: LanguageOptions = LanguageOptions()
    pause_closes_sentence: float = 1.5  # seconds of pause that close an open sentence
    # A decode with nothing after the final words though this much audio followed
    # them: the window starts again near those words (see _decode, _restart_window).
    stall_after: float = 1.0
    # The restarted window keeps the final words of about this many seconds before the
    # stall as context (unforced, their new spelling dropped): a word decoded cold in a
    # second of audio came out doubtful ("fistencia") and was dropped as no speech.
    restart_context: float = 1.0
    # An utterance with too little speech to decode (the VAD heard "However," for
    # 64 ms) is held this many seconds after it ended; if speech resumes by then it is
    # put back in front of the next utterance once that one's language is settled
    # (not before: music held so made the detection say Arabic for a Spanish clip).
    blip_hold: float = 1.0
    # The decode at a pause hears the utterance before it too, if speech resumed
    # within ``context_pause`` seconds of silence (its words forced as the prefix, so
    # they cannot change): a short phrase after a breath is no longer decoded cold.
    # Longer than the pause that closes a sentence: the next sentence of the same talk
    # is heard better after the one before it (docs/benchmarks.md).
    context_pause: float = 2.5
    context_seconds: float = 8.0  # at most this much of the utterance before
    context_max_window: float = 16.0  # and the whole decode no longer than this
    max_compression_ratio: float = 2.4  # above: a repetition loop, the decode is dropped
    # Whisper's own test (no-speech > 0.6 and log-probability < -1) lets crowd babble
    # and restaurant noise through with a confident "Thank you." Here a decode is
    # dropped when the model thinks it likely heard no speech, or somewhat likely
    # and it is unsure of the words (see docs/benchmarks.md for what was measured).
    max_no_speech: float = 0.5  # above: not speech, dropped
    doubtful_no_speech: float = 0.2  # above, with word probability below the next: dropped
    min_word_probability: float = 0.5  # mean over the new words
    # Below this average log-probability a decode is dropped if no-speech is above
    # doubtful_no_speech, and a running decode never counts towards agreement.
    min_avg_logprob: float = -1.0
    vad: VadOptions = VadOptions()
    segmenter: SegmenterOptions = SegmenterOptions()


@dataclass
class RecognizerStats:
    decodes: int = 0  # model calls so far (the virtual clock charges per decode)


def heard_speech(
    no_speech: float,
    avg_logprob: float,
    word_probabilities: Sequence[float],
    options: RecognizerOptions,
) -> bool:
    """Whether a decode is worth showing: the model did not think it likely heard
    no speech, nor somewhat likely while unsure of its words. Shared by the
    streaming and offline paths."""
    if no_speech > options.max_no_speech:
        return False
    mean_probability = float(np.mean(word_probabilities)) if len(word_probabilities) else 1.0
    unsure = mean_probability < options.min_word_probability or avg_logprob < options.min_avg_logprob
    return not (no_speech > options.doubtful_no_speech and unsure)


class StreamingRecognizer:
    """Stage: AudioChunk in → CaptionEvent (partial, final) and SentenceEvent out."""

    def __init__(
        self,
        decoder: Decoder,
        vad: SpeechProbabilities,
        options: RecognizerOptions | None = None,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        self.options = options or RecognizerOptions()
        self.vocabulary = vocabulary or Vocabulary()
        self._next_vocabulary: Vocabulary | None = None
        self._decoder = decoder
        self._vad = vad
        self._gate = VadGate(self.options.vad)
        self._stabilizer = LocalAgreementStabilizer(self.options.agreement)
        self._segmenter = SentenceSegmenter(self.options.segmenter)
        self.stats = RecognizerStats()
        self._unframed = np.zeros(0, dtype=np.float32)
        self._frames_seen = 0  # VAD frames consumed since the stream started
        self._preroll: list[Float32Array] = []
        self._window: list[Float32Array] = []
        self._window_samples = 0
        self._window_start = 0.0  # stream seconds of the window's first sample
        self._undecoded_samples = 0
        self._window_final: list[Word] = []  # final words inside the window
        # After a stalled-window restart, the window's first final words are context
        # only: not forced as the prefix until a word after them becomes final.
        self._unforced = 0
        self._history = ""  # final text before the window, in _history_language
        self._history_language: str | None = None
        self._languages = LanguageVote(self.options.language_detection, self.options.language)
        self._partial_text = ""
        self._partial_id = ""
        self._decodes_at_start = 0  # decodes before the current utterance began
        self._blip_frames = 0  # frames of an undecoded utterance kept in the preroll
        self._blip_silence = 0  # frames of silence since that utterance ended
        self._held: list[Float32Array] = []  # its audio, waiting for the language
        self._grown = False  # the window grew at its start during this decode
        self._previous = PreviousUtterance(  # context for the decode at the next pause
            pause=self.options.context_pause,
            seconds=self.options.context_seconds,
            max_window=self.options.context_max_window,
            silent_at_end=self.options.vad.end_silence,
        )

    def set_vocabulary(self, vocabulary: Vocabulary) -> None:
        """Replace the stream's vocabulary from the next utterance on (the one being
        decoded keeps its prompt, so its hypotheses stay comparable). Safe to call from
        another thread than the one pushing audio: it only replaces a reference."""
        self._next_vocabulary = vocabulary

    # -- the stage contract -------------------------------------------------------

    def push(self, chunk: AudioChunk) -> list[RecognizerEvent]:
        """Take the next audio (any length); return the events it made ready."""
        events: list[RecognizerEvent] = []
        samples = chunk.samples.astype(np.float32, copy=False)
        self._unframed = np.concatenate([self._unframed, samples])
        probabilities = self._vad.push(samples)
        for probability in probabilities:
            frame = self._unframed[:FRAME_SAMPLES]
            self._unframed = self._unframed[FRAME_SAMPLES:]
            events.extend(self._frame(frame, float(probability)))
        if self._should_decode():
            events.extend(self._decode(final=False))
        return events

    def flush(self) -> list[RecognizerEvent]:
        """End of stream: decode what is pending, make everything final, close the sentence."""
        events: list[RecognizerEvent] = []
        if self._gate.active:
            if len(self._unframed):
                self._append(self._unframed)
                self._unframed = np.zeros(0, dtype=np.float32)
            events.extend(self._end_utterance())
        events.extend(self._segmenter.close())
        return events

    @property
    def settled_until(self) -> float:
        """Stream seconds before which no new word can appear: the start of the audio
        still held for decoding (the utterance window and the start held back for its
        language, or between utterances the preroll kept for the next one)."""
        if self._gate.active:
            held = sum(len(h) for h in self._held)
            return max(0.0, self._window_start - held / SAMPLE_RATE)
        preroll = sum(len(p) for p in self._preroll)
        return max(0.0, self._frame_start - preroll / SAMPLE_RATE)

    # -- frames and utterances ---------------------------------------------------------

    @property
    def _frame_start(self) -> float:
        return self._frames_seen * FRAME_SAMPLES / SAMPLE_RATE

    def _frame(self, frame: Float32Array, probability: float) -> list[RecognizerEvent]:
        events: list[RecognizerEvent] = []
        transition = self._gate.step(probability)
        if transition == "start":
            events.extend(self._start_utterance())
        if self._gate.active or transition == "end":
            self._append(frame)
        else:
            self._keep_preroll(frame)
        self._frames_seen += 1
        if transition == "end":
            events.extend(self._end_utterance())
        return events

    @property
    def _preroll_frames(self) -> int:
        return max(1, round(self.options.vad.preroll * SAMPLE_RATE / FRAME_SAMPLES))

    @property
    def _blip_hold_frames(self) -> int:
        return round(self.options.blip_hold * SAMPLE_RATE / FRAME_SAMPLES)

    def _keep_preroll(self, frame: Float32Array) -> None:
        self._preroll.append(frame)
        self._previous.silence(frame)
        keep = self._preroll_frames
        if self._blip_frames:
            self._blip_silence += 1
            if self._blip_silence <= self._blip_hold_frames:
                keep = max(keep, self._blip_frames + self._blip_silence)
            else:
                self._blip_frames = 0  # too long ago to be the start of what follows
        del self._preroll[:-keep]

    def _append(self, samples: Float32Array) -> None:
        self._window.append(samples)
        self._window_samples += len(samples)
        self._undecoded_samples += len(samples)

    def _start_utterance(self) -> list[RecognizerEvent]:
        events: list[RecognizerEvent] = []
        if self._next_vocabulary is not None:
            self.vocabulary, self._next_vocabulary = self._next_vocabulary, None
        preroll = self._preroll[-self._preroll_frames :]
        self._held = self._preroll[: -self._preroll_frames] if self._blip_frames else []
        self._preroll, self._blip_frames = [], 0
        self._decodes_at_start = self.stats.decodes
        preroll_samples = sum(len(p) for p in preroll)
        self._window = list(preroll)
        self._window_samples = preroll_samples
        self._undecoded_samples = preroll_samples
        self._window_start = self._frame_start - preroll_samples / SAMPLE_RATE
        self._window_final, self._unforced = [], 0
        self._stabilizer.reset()
        last_end = self._segmenter.last_word_end
        if last_end is not None and self._frame_start - last_end >= self.options.pause_closes_sentence:
            events.extend(self._segmenter.close())
        # After a sentence, or a pause long enough to close one, detect it again.
        self._languages.new_utterance(keep=self._segmenter.has_open_sentence)
        if self._languages.settled:
            self._put_back_held()
        return events

    def _put_back_held(self) -> bool:
        """The held start of this utterance goes back in front of its window."""
        if not self._held:
            return False
        audio = np.concatenate(self._held)
        self._held = []
        self._window.insert(0, audio)
        self._window_samples += len(audio)
        self._undecoded_samples += len(audio)
        self._window_start -= len(audio) / SAMPLE_RATE
        return True

    def _end_utterance(self) -> list[RecognizerEvent]:
        events: list[RecognizerEvent] = []
        if self._gate.enough_speech or self._gate.active:
            events.extend(self._decode(final=True))
        decoded = self.stats.decodes > self._decodes_at_start
        # Too little speech to decode: kept as the start of the next utterance, if
        # speech resumes soon, rather than dropped.
        hold = 0 if decoded else self._blip_hold_frames
        tail = self._last_frames(self._preroll_frames + hold)
        self._blip_frames, self._blip_silence = (0 if decoded else len(tail)), 0
        self._held = []
        if self._gate.active:  # the end of the stream
            self._previous.forget()
        else:
            self._previous.extend(self._window, self._window_start, self._window_final, self._languages.language)
        self._window, self._window_samples, self._undecoded_samples = [], 0, 0
        self._remember(self._window_final)
        self._window_final, self._unforced = [], 0
        self._preroll = list(tail)
        return events

    def _last_frames(self, count: int) -> list[Float32Array]:
        """The window's last ``count`` frames' worth of audio, as frames."""
        if not self._window:
            return []
        audio = np.concatenate(self._window)[-count * FRAME_SAMPLES :]
        return [audio[i : i + FRAME_SAMPLES] for i in range(0, len(audio), FRAME_SAMPLES)]

    def _should_decode(self) -> bool:
        return (
            self._gate.active
            and self._gate.enough_speech
            and self._window_samples >= self.options.min_window * SAMPLE_RATE
            and self._undecoded_samples >= self.options.step * SAMPLE_RATE
        )

    # -- decoding ----------------------------------------------------------------------

    def _decode(self, *, final: bool) -> list[RecognizerEvent]:
        if self._window_samples == 0:
            return []
        audio = np.concatenate(self._window)
        seconds = len(audio) / SAMPLE_RATE
        leader = self._languages.leader
        if final and not self._languages.settled and leader is not None:
            self._settle(self._likelier_language(leader, audio))
        self._undecoded_samples = 0
        self._grown = False
        # At a pause, first with the utterance before as context (None: not done).
        words = self._decode_with_context(audio) if final else None
        hypothesis = None
        if words is None:
            hypothesis = self._run_decoder(audio, self._prompt(), self._forced, final=final)
            words = self._clean(hypothesis, seconds)
        if not words and self._stalled(seconds):
            # Speech went on after the last final word, yet the decoder stopped right
            # after the forced prefix (Whisper takes a committed "States." for the end
            # of what it heard, and would until the pause): decode again with nothing
            # forced, the last final words' audio kept as context (_restart_window).
            self._restart_window()
            return self._decode(final=final)
        if hypothesis is not None and not self._languages.settled:
            self._vote(hypothesis, audio, final=final)
            if self._languages.settled and hypothesis.language != self._languages.language:
                words = []  # decoded in a language we just ruled out
        language = self._settled_language
        if not language:  # only a decode without context can leave it unsettled
            language = hypothesis.language if hypothesis else ""
        if final:
            newly_final, tentative = self._stabilizer.flush(words), []
        elif not self._languages.settled or self._grown:
            # Show it but commit nothing yet (the window just grew at its start: the
            # next decode hears what was held); and show nothing decoded in a language
            # the detection has not made believable (the first second of a Spanish
            # speaker's next sentence detected as Arabic flashed Arabic on screen).
            believable = self._languages.believable(language, seconds)
            newly_final, tentative = [], words if believable else []
        elif words and hypothesis is not None and hypothesis.avg_logprob < self.options.min_avg_logprob:
            # A decode that lost its way (Whisper's own test for a failed decode) neither
            # confirms nor contradicts the one before: two of them agreed on "The soil
            # was", invented after the prompt "…Did the soil communicate channels?".
            newly_final, tentative = [], self._stabilizer.tentative
        elif not self._window_final and seconds < self.options.first_final_window:
            # A window's first second or so (an utterance's start, mostly): two such
            # decodes agree on their guesses; a longer one has to confirm them.
            self._stabilizer.hold(words)
            newly_final, tentative = [], words
        else:
            newly_final, tentative = self._stabilizer.update(words)
            overlong = seconds > self.options.max_window
            if overlong and not self._window_final and not newly_final:
                # Nothing agreed on in a long window: take the latest hypothesis as
                # final rather than let the window, and decoding cost, grow.
                newly_final, tentative = self._stabilizer.flush(words), []
        events: list[RecognizerEvent] = list(self._segmenter.push(newly_final, language))
        self._window_final.extend(newly_final)
        if newly_final:
            self._unforced = 0
        events.extend(self._partial(tentative, language))
        if not final:
            self._trim_window()
        return events

    def _run_decoder(
        self, audio: Float32Array, prompt: str, prefix: Sequence[Word], *, final: bool
    ) -> Hypothesis:
        """One model call: ``prefix`` forced, in the settled language if there is one;
        the decode at a pause never searches narrower than the running ones."""
        o = self.options
        hypothesis = self._decoder.decode(
            audio,
            prompt=prompt,
            prefix="".join(w.text for w in prefix),
            language=self._settled_language,
            beam_size=max(o.final_beam, o.beam) if final else o.beam,
        )
        self.stats.decodes += 1
        return hypothesis

    def _decode_with_context(self, window: Float32Array) -> list[Word] | None:
        """The pause decode with the utterance before as context, or None where there
        is no context to use or the decoder gave nothing new with it."""
        if not self._languages.settled:
            return None
        window_end = self._window_start + len(window) / SAMPLE_RATE
        context = self._previous.before(self._window_start, window_end, self._languages.language)
        if context is None:
            return None
        audio = np.concatenate([context.audio, window])
        prefix = [*context.words, *self._forced]
        hypothesis = self._run_decoder(audio, self._prompt(before=context.words), prefix, final=True)
        words = self._clean(hypothesis, len(audio) / SAMPLE_RATE, start=context.start)
        return words or None

    @property
    def _forced(self) -> list[Word]:
        """The window's final words as the decoder's forced prefix."""
        return [] if self._unforced else self._window_final

    def _vote(self, hypothesis: Hypothesis, window: Float32Array, *, final: bool) -> None:
        ranked = hypothesis.language_probabilities or ((hypothesis.language, hypothesis.language_probability),)
        decided = self._languages.vote(ranked, len(window) / SAMPLE_RATE, final=final)
        if decided is not None:
            self._settle(self._likelier_language(decided, window))

    def _likelier_language(self, detected: str, window: Float32Array) -> str:
        """``detected``, or the previous utterance's language where the detection
        switched away from it on a close call (language.py) and the window decodes
        likelier in it. Whisper's language token on two seconds of speech took a
        Spanish phrase for Portuguese at 0.69 (Spanish 0.21), but the decoder scored
        the Spanish words higher (average log-probability -0.21 against -0.36): the
        words weigh the whole window, the token only its start. Both decodes without
        a prompt (the prompt is in the previous language), a looping one never wins."""
        if not self._languages.contested(detected):
            return detected
        previous = self._languages.previous
        assert previous is not None
        scores = {}
        for language in (detected, previous):
            hypothesis = self._decoder.decode(
                window, prompt="", prefix="", language=language, beam_size=self.options.beam
            )
            self.stats.decodes += 1
            looping = hypothesis.compression_ratio > self.options.max_compression_ratio
            scores[language] = -math.inf if looping or not hypothesis.words else hypothesis.avg_logprob
        return previous if scores[previous] > scores[detected] else detected

    @property
    def _settled_language(self) -> str | None:
        return self._languages.language if self._languages.settled else None

    def _settle(self, language: str) -> None:
        self._languages.settle(language)
        self._stabilizer.reset()
        self._grown = self._put_back_held()

    def _remember(self, words: Sequence[Word]) -> None:
        if not words:
            return
        if self._languages.language != self._history_language:
            self._history, self._history_language = "", self._languages.language
        self._history = (self._history + " " + join_words(words))[-1000:]

    def _prompt(self, before: Sequence[Word] = ()) -> str:
        """Final text before the window (and before the words ``before`` it), only if
        it is in this utterance's language: a prompt in another language makes Whisper
        translate into that language."""
        if not self._languages.settled:
            return ""
        history = self._history_here.rstrip()
        ahead = join_words(before)
        if ahead and history.endswith(ahead):
            history = history[: -len(ahead)]
        terms = self.vocabulary.prompt(self._languages.language, self.options.vocabulary_tokens)
        return f"{terms} {history[-self.options.prompt_chars :].strip()}".strip()

    @property
    def _history_here(self) -> str:
        """The final text before the window, if it is in this utterance's language."""
        return self._history if self._history_language == self._languages.language else ""

    def _final_text(self) -> str:
        """The final text so far in this utterance's language, the window's included."""
        return self._history_here + " " + join_words(self._window_final)

    def _clean(self, hypothesis: Hypothesis, window_seconds: float, start: float | None = None) -> list[Word]:
        """Hypothesis words in stream time, minus what Whisper is known to invent."""
        o = self.options
        looping = hypothesis.compression_ratio > o.max_compression_ratio
        no_speech = hypothesis.no_speech_probability
        silent = not heard_speech(
            no_speech, hypothesis.avg_logprob, [w.probability for w in hypothesis.words], o
        )
        if looping or silent:
            log.debug("dropped a hypothesis (looping=%s, silent=%s)", looping, silent)
            return []
        offset = self._window_start if start is None else start
        words = [
            replace(
                w,
                start=round(offset + w.start, 3),
                end=round(offset + min(w.end, window_seconds), 3),
            )
            for w in hypothesis.words
            if w.start < window_seconds - 0.05  # nothing from the padded silence
        ]
        # Whisper copying its prompt or forced prefix rather than hearing the audio.
        words = drop_echo(trim_repetition(words), self._final_text(), max_probability=o.min_word_probability)
        language = self._settled_language or hypothesis.language
        words = self.vocabulary.drop_echo(words, language, o.vocabulary_tokens, max_probability=o.min_word_probability)
        words = self.vocabulary.respell(words, language)
        if self._unforced:
            words = self._after_context(words)
        words = self._monotonic(words)
        doubtful = (
            no_speech > o.doubtful_no_speech
            or hypothesis.avg_logprob < -0.7
            or any(w.probability < 0.2 for w in words)
        )
        if not self._window_final and is_phantom(words, doubtful=doubtful):
            log.debug("dropped a phantom phrase: %r", join_words(words))
            return []
        return words

    def _after_context(self, words: Sequence[Word]) -> list[Word]:
        """The words after the unforced final words kept as context: the decoder
        spells those again, found by their text or, respelt, by their time."""
        context = self._window_final[: self._unforced]
        said = [word_key(w.text) for w in context]
        heard = [word_key(w.text) for w in words]
        for n in range(min(len(said), len(heard)), 0, -1):
            if heard[:n] == said[-n:]:
                words = words[n:]
                break
        end = context[-1].end
        return [w for w in words if (w.start + w.end) / 2 >= end]

    def _monotonic(self, words: Sequence[Word]) -> list[Word]:
        """Word times never go backwards, and never before the last final word."""
        floor = self._window_final[-1].end if self._window_final else self._window_start
        out: list[Word] = []
        for w in words:
            start = max(w.start, floor)
            end = max(w.end, start)
            out.append(replace(w, start=start, end=end))
            floor = end
        return out

    def _partial(self, tentative: Sequence[Word], language: str) -> list[RecognizerEvent]:
        text = join_words(tentative)
        caption_id = self._segmenter.next_caption_id
        if text == self._partial_text and (caption_id == self._partial_id or not text):
            return []
        self._partial_text, self._partial_id = text, caption_id
        if tentative:
            start, end = tentative[0].start, tentative[-1].end
        else:  # an empty partial clears the tentative text where the last final ended
            start = end = self._window_final[-1].end if self._window_final else self._window_start
        return [
            CaptionEvent(
                kind="partial",
                id=caption_id,
                start=start,
                end=end,
                text=text,
                lang=language,
                words=tuple(tentative),
                sentence_id=self._segmenter.open_sentence_id,
            )
        ]

    def _stalled(self, window_seconds: float) -> bool:
        if not self._window_final or self._unforced:
            return False
        after = self._window_start + window_seconds - self._window_final[-1].end
        return after >= self.options.stall_after

    def _restart_window(self) -> None:
        """The window starts again at the final words of its last
        ``restart_context`` seconds (at least the last word), which stay as context."""
        finals = self._window_final
        log.debug("restarting the window after %r", join_words(finals[-3:]))
        since = finals[-1].end - self.options.restart_context
        keep = max(1, sum(1 for w in finals if w.start >= since))
        if keep < len(finals):
            self._cut_after_finals(len(finals) - keep)
        self._unforced = len(self._window_final)
        self._stabilizer.reset()

    def _trim_window(self) -> None:
        seconds = self._window_samples / SAMPLE_RATE
        if seconds > self.options.max_window and not self._window_final:
            # Nothing in this window was ever accepted (noise the VAD took for
            # speech, or every decode dropped): slide it, or it would grow forever.
            self._cut(self._window_start + seconds - self.options.trim_after)
            self._stabilizer.reset()
            return
        if seconds <= self.options.trim_after or not self._window_final:
            return
        cut = None
        for i, word in enumerate(self._window_final):
            if ends_sentence(word):
                cut = i + 1
        if cut is None and seconds > self.options.max_window:
            cut = len(self._window_final)
        if cut is None:
            return
        self._cut_after_finals(cut)

    def _cut_after_finals(self, count: int) -> None:
        """The window's first ``count`` final words leave it, with their audio: their
        text goes to the prompt history."""
        self._remember(self._window_final[:count])
        start = self._window_start
        cut_off = self._cut(self._window_final[count - 1].end)
        # Context for the decode at the pause, as the utterance before a short pause is.
        self._previous.extend([cut_off], start, self._window_final[:count], self._languages.language)
        self._window_final = self._window_final[count:]
        self._unforced = max(0, self._unforced - count)

    def _cut(self, time: float) -> Float32Array:
        """Drop the window's audio before stream time ``time``; return what was dropped."""
        drop = int(round((time - self._window_start) * SAMPLE_RATE))
        window = np.concatenate(self._window)
        audio = window[drop:]
        self._window = [audio]
        self._window_samples = len(audio)
        self._window_start = time
        return window[:drop]
