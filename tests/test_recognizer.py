"""The streaming recogniser's behaviour with scripted speech (no models).

Each test replays a ramp of audio through the real StreamingRecognizer; the
stand-ins in scripted.py say what a VAD and a decoder would hear.
"""

from __future__ import annotations

import inspect
from dataclasses import replace

from scripted import ScriptedDecoder, ScriptedVad, chunks, ramp, sentence_words
from scripted import options as recognizer_options
from scripted import recognizer as scripted_recognizer

from livetrans.asr.offline import transcribe_offline
from livetrans.core.driver import DecodingRecognizer
from livetrans.core.stabilizer import join_words
from livetrans.types import SAMPLE_RATE, AudioChunk, CaptionEvent, SentenceEvent

SPEECH = sentence_words(
    "Welcome to the show. Today we have a great offer for you. Buy two and get one free.", 1.0
)
SPEECH_END = SPEECH[-1].end


def replay(recognizer: DecodingRecognizer, seconds: float, chunk_seconds: float = 0.1):
    events = []
    for chunk in chunks(seconds, chunk_seconds):
        events.extend(recognizer.push(chunk))
    events.extend(recognizer.flush())
    return events


def make(speech=((0.9, SPEECH_END + 0.1),), words=SPEECH, **options):
    decoder = ScriptedDecoder(words)
    opts = recognizer_options(language=options.pop("language", "en"), **options)
    return scripted_recognizer(decoder, ScriptedVad(speech), opts), decoder


def finals(events):
    return [e for e in events if isinstance(e, CaptionEvent) and e.kind == "final"]


def test_finals_join_to_everything_that_was_said():
    recognizer, _ = make()
    events = replay(recognizer, SPEECH_END + 2.0)
    assert join_words([w for f in finals(events) for w in f.words]) == join_words(SPEECH)


def test_a_final_is_never_retracted_and_times_never_go_backwards():
    recognizer, _ = make()
    events = replay(recognizer, SPEECH_END + 2.0)
    final_words = [w for f in finals(events) for w in f.words]
    ends = [w.end for w in final_words]
    assert ends == sorted(ends)
    assert all(w.start <= w.end for w in final_words)
    # partials only ever show words after the last final
    last_final_end = 0.0
    for e in events:
        if isinstance(e, CaptionEvent) and e.kind == "final":
            last_final_end = e.end
        elif isinstance(e, CaptionEvent) and e.text:
            assert e.start >= last_final_end - 1e-6
    assert "~" not in join_words(final_words)  # misheard tails never became final


def test_words_become_final_while_the_speaker_is_still_talking():
    recognizer, _ = make()
    first_final_at = None
    for chunk in chunks(SPEECH_END + 2.0):
        if any(isinstance(e, CaptionEvent) and e.kind == "final" for e in recognizer.push(chunk)):
            first_final_at = chunk.end
            break
    assert first_final_at is not None and first_final_at < SPEECH_END - 3.0


def first_final_window(**options) -> float:
    """The window length of the decode that made an utterance's first word final."""
    recognizer, decoder = make(**options)
    for chunk in chunks(SPEECH_END + 2.0):
        if any(isinstance(e, CaptionEvent) and e.kind == "final" for e in recognizer.push(chunk)):
            start, end, _, _ = decoder.calls[-1]
            return end - start
    raise AssertionError("nothing became final")


def test_nothing_becomes_final_in_the_first_short_windows_of_an_utterance():
    """Two decodes of an utterance's first second or so agreed on their guesses ("How
    were? Did the soil" for "However, due to the slow" in crowd noise); a longer
    window has to confirm the start of an utterance."""
    assert first_final_window(first_final_window=0.0) < 2.0
    assert first_final_window(first_final_window=2.0) >= 2.0


def test_sentences_are_announced_with_their_finals():
    recognizer, _ = make()
    events = replay(recognizer, SPEECH_END + 2.0)
    sentences = [e for e in events if isinstance(e, SentenceEvent)]
    assert [s.text for s in sentences] == [
        "Welcome to the show.",
        "Today we have a great offer for you.",
        "Buy two and get one free.",
    ]
    caption_ids = {f.id for f in finals(events)}
    assert all(set(s.caption_ids) <= caption_ids for s in sentences)


def test_silence_is_never_decoded():
    recognizer, decoder = make(speech=())
    events = replay(recognizer, 20.0)
    assert events == [] and decoder.calls == []


def test_a_blip_shorter_than_min_speech_is_not_decoded():
    recognizer, decoder = make(speech=((3.0, 3.1),), words=())
    assert replay(recognizer, 6.0) == [] and decoder.calls == []


def test_catching_up_decodes_once_for_all_pending_audio():
    recognizer, decoder = make()
    recognizer.push(AudioChunk(ramp(2.0), 0.0))
    calls = len(decoder.calls)
    recognizer.push(AudioChunk(ramp(6.0, start=2.0), 2.0))  # a decoder that fell 6 s behind
    assert len(decoder.calls) == calls + 1
    assert decoder.calls[-1][1] >= 7.9  # that one decode saw all the audio


def test_the_window_stays_bounded_during_long_speech():
    long_speech = sentence_words(" ".join(f"Word{i}." for i in range(150)), 0.5, 0.4)
    end = long_speech[-1].end
    recognizer, decoder = make(speech=((0.4, end + 0.1),), words=long_speech, trim_after=8.0, max_window=12.0)
    events = replay(recognizer, end + 1.5)
    longest = max(e - s for s, e, _, _ in decoder.calls)
    assert longest <= 12.0 + 1.0
    assert len(finals(events)) > 0
    assert join_words([w for f in finals(events) for w in f.words]) == join_words(long_speech)


def test_final_text_is_the_prefix_and_earlier_text_the_prompt():
    recognizer, decoder = make(trim_after=4.0)
    replay(recognizer, SPEECH_END + 2.0)
    prefixes = [p for _, _, _, p in decoder.calls if p]
    prompts = [p for _, _, p, _ in decoder.calls if p]
    assert prefixes, "final words inside the window are forced as the prefix"
    assert any("Welcome to the show." in p for p in prompts), "trimmed text becomes the prompt"


def test_the_decode_at_a_pause_hears_what_the_window_was_trimmed_of():
    """Trimmed at "Welcome to the show.", the window no longer holds that audio; the
    decode that makes the rest final hears it again, its words forced."""
    recognizer, decoder = make(trim_after=4.0)
    events = replay(recognizer, SPEECH_END + 2.0)
    assert join_words([w for f in finals(events) for w in f.words]) == join_words(SPEECH)
    trimmed = [c for c in decoder.calls if c[1] < SPEECH_END and c[0] > SPEECH[0].start]
    assert trimmed, "the running decodes used the trimmed window"
    start, _, prompt, prefix = decoder.calls[-1]
    assert start < SPEECH[0].start and prefix.startswith(" Welcome to the show.")
    assert "Welcome" not in prompt


def test_a_pause_ends_the_utterance_and_everything_in_it_becomes_final():
    first = sentence_words("Hello there", 1.0)
    second = sentence_words("Goodbye now", 6.0)
    recognizer, _ = make(speech=((0.9, 2.0), (5.9, 7.0)), words=first + second)
    events = []
    for chunk in chunks(5.0):
        events.extend(recognizer.push(chunk))
    # the first utterance is final before the second one starts, with no flush
    assert join_words([w for f in finals(events) for w in f.words]) == "Hello there"
    assert any(isinstance(e, SentenceEvent) for e in events) is False  # no punctuation yet
    for chunk in chunks(9.0)[50:]:
        events.extend(recognizer.push(chunk))
    sentences = [e for e in events if isinstance(e, SentenceEvent)]
    assert [s.text for s in sentences] == ["Hello there"]  # the long pause closed it


def test_detected_language_is_used_when_none_is_given():
    recognizer, decoder = make(language=None)
    decoder.language = "es"
    events = replay(recognizer, SPEECH_END + 2.0)
    assert {e.lang for e in finals(events)} == {"es"}


class StoppingAfterSentenceEnd(ScriptedDecoder):
    """Whisper base's habit: given a forced prefix that ends a sentence, it may end
    the decode right there although speech goes on."""

    def decode(self, audio, *, prompt, prefix, language, beam_size=1):
        hypothesis = super().decode(audio, prompt=prompt, prefix=prefix, language=language)
        if prefix.rstrip().endswith("."):
            return replace(hypothesis, words=())
        return hypothesis


def test_speech_after_a_final_sentence_end_is_not_lost_when_the_decoder_stops_there():
    # A breath (shorter than the pause that ends an utterance) after the sentence.
    first = sentence_words("We beat the United States.", 1.0)
    words = first + sentence_words("As the biggest market for this industry today.", first[-1].end + 0.4)
    decoder = StoppingAfterSentenceEnd(words)
    recognizer = scripted_recognizer(
        decoder, ScriptedVad(((0.9, words[-1].end + 0.1),)), recognizer_options(language="en")
    )
    events = replay(recognizer, words[-1].end + 2.0)
    assert join_words([w for f in finals(events) for w in f.words]) == join_words(words)
    sentence_end = first[-1].end
    # The window started again at the final words of the last second ("United States."),
    # which it hears as context, with no prefix to stop on; they were not repeated.
    restarts = [start for start, end, _, prefix in decoder.calls if not prefix and end > sentence_end + 1.0]
    assert restarts and all(first[0].start < start < sentence_end - 0.5 for start in restarts)


class RespellingAfterRestart(StoppingAfterSentenceEnd):
    """In a window that starts after the stream's first word, with nothing forced,
    spells the words it hears before ``respelt_before`` anew."""

    respelt_before = 0.0

    def decode(self, audio, *, prompt, prefix, language, beam_size=1):
        hypothesis = super().decode(audio, prompt=prompt, prefix=prefix, language=language)
        start = float(audio[0]) / SAMPLE_RATE
        if prefix or start <= self.words[0].start:
            return hypothesis
        words = tuple(
            replace(w, text=w.text.rstrip(".")[:-1]) if start + w.end <= self.respelt_before else w
            for w in hypothesis.words
        )
        return replace(hypothesis, words=words)


def test_the_words_kept_as_context_after_a_restart_are_not_final_twice_even_respelt():
    first = sentence_words("We beat the United States.", 1.0)
    words = first + sentence_words("As the biggest market for this industry today.", first[-1].end + 0.4)
    decoder = RespellingAfterRestart(words)
    decoder.respelt_before = first[-1].end + 0.01
    recognizer = scripted_recognizer(
        decoder, ScriptedVad(((0.9, words[-1].end + 0.1),)), recognizer_options(language="en")
    )
    events = replay(recognizer, words[-1].end + 2.0)
    assert join_words([w for f in finals(events) for w in f.words]) == join_words(words)



def test_the_decode_at_a_pause_searches_wider_than_the_running_ones():
    """Everything the decode at a pause hears becomes final at once, with no later
    hypothesis to confirm it: that decode searches wider than the running ones."""
    recognizer, decoder = make(beam=1, final_beam=4)
    replay(recognizer, SPEECH_END + 2.0)
    assert decoder.beam_sizes[-1] == 4
    assert set(decoder.beam_sizes[:-1]) == {1}


def test_by_default_the_decode_at_a_pause_searches_as_wide_as_the_offline_path():
    """What the decode at a pause writes is final at once; by default it searches as
    the offline transcription does, while the running decodes stay cheaper."""
    offline_beam = inspect.signature(transcribe_offline).parameters["beam_size"].default
    recognizer, decoder = make()
    replay(recognizer, SPEECH_END + 2.0)
    assert decoder.beam_sizes[-1] == offline_beam
    assert set(decoder.beam_sizes[:-1]) == {recognizer.options.beam}
    assert recognizer.options.beam < offline_beam


def test_a_wider_running_beam_reaches_every_decode():
    """Every decode may search wider than the decode at a pause would; that decode
    never searches narrower than the running ones."""
    recognizer, decoder = make(beam=5, final_beam=3)
    replay(recognizer, SPEECH_END + 2.0)
    assert len(decoder.beam_sizes) > 2
    assert set(decoder.beam_sizes) == {5}


def two_phrases(gap: float, first_text: str = "The sands are white", decoder_class=ScriptedDecoder):
    first = sentence_words(first_text, 1.0)
    second = sentence_words("of medium grain and very few visitors", first[-1].end + gap)
    decoder = decoder_class(first + second)
    speech = ((0.9, first[-1].end + 0.05), (second[0].start - 0.05, second[-1].end + 0.1))
    recognizer = scripted_recognizer(decoder, ScriptedVad(speech), recognizer_options(language="en"))
    events = replay(recognizer, second[-1].end + 2.0)
    return events, decoder, first, second


def test_the_decode_at_a_pause_hears_the_phrase_before_a_short_pause():
    """A phrase after a breath ("de grano medio") decoded alone was misheard: the
    decode that makes it final hears the phrase before too, whose final words are the
    forced prefix (so they cannot change) and not repeated in the prompt."""
    events, decoder, first, second = two_phrases(gap=0.7)
    assert join_words([w for f in finals(events) for w in f.words]) == join_words(first + second)
    pause_decode = [c for c in decoder.calls if c[1] > second[-1].end][-1]
    start, _, prompt, prefix = pause_decode
    assert start < first[0].start and prefix.startswith(" The sands are white")
    assert "white" not in prompt
    # The running decodes of the second phrase stay on its own audio.
    running = [c for c in decoder.calls if second[0].start < c[1] <= second[-1].end]
    assert running and all(c[0] > first[-1].end for c in running)


def test_the_next_sentence_after_a_pause_hears_the_one_before():
    """A pause long enough to close the sentence still leaves the talk going on: the
    decode at the next pause hears the sentence before it too."""
    events, decoder, first, second = two_phrases(gap=2.0)
    heard = join_words([w for f in finals(events) for w in f.words])
    assert heard.lower() == join_words(first + second).lower()  # "white Of": the pause closed it
    pause_decode = [c for c in decoder.calls if c[1] > second[-1].end][-1]
    assert pause_decode[0] < first[0].start and pause_decode[3].startswith(" The sands are white")


def test_a_phrase_after_a_long_pause_is_decoded_on_its_own():
    events, decoder, first, second = two_phrases(gap=4.0)
    heard = join_words([w for f in finals(events) for w in f.words])
    assert heard.lower() == join_words(first + second).lower()  # "white Of": the pause closed it
    assert all(start > first[-1].end for start, end, _, _ in decoder.calls if end > second[0].start)


def test_the_phrase_is_not_lost_when_the_decoder_stops_after_the_phrase_before():
    events, decoder, first, second = two_phrases(
        gap=0.7, first_text="The sands are white.", decoder_class=StoppingAfterSentenceEnd
    )
    heard = join_words([w for f in finals(events) for w in f.words])
    assert heard.lower() == join_words(first + second).lower()  # "white. Of": a new sentence
    with_context = [c for c in decoder.calls if c[0] < first[0].start and c[1] > second[-1].end]
    assert with_context, "the pause decode was tried with the phrase before"


class MisdetectingDecoder(ScriptedDecoder):
    """Takes an utterance's first second and a half, narrowly, for Arabic."""

    def decode(self, audio, *, prompt, prefix, language, beam_size=1):
        hypothesis = super().decode(audio, prompt=prompt, prefix=prefix, language=language, beam_size=beam_size)
        if language is not None:
            return hypothesis
        short = len(audio) / SAMPLE_RATE < 1.6
        ranked = (("ar", 0.5), ("es", 0.4)) if short else (("es", 0.95), ("ar", 0.03))
        words = hypothesis.words
        if short:  # what Whisper writes when it decodes Spanish as Arabic
            words = tuple(replace(w, text=" عربي") for w in words)
        return replace(
            hypothesis,
            words=words,
            language=ranked[0][0],
            language_probability=ranked[0][1],
            language_probabilities=ranked,
        )


def test_a_misdetected_start_of_the_next_sentence_is_not_shown():
    """After a Spanish sentence, the next one's first decode is detected as Arabic by
    a hair: the speaker's language so far outweighs it, so no Arabic partial flashes
    on screen, and every partial is labelled with the language it was decoded in."""
    first = sentence_words("Hola a todos.", 1.0)
    second = sentence_words("Hoy tenemos una oferta muy buena para ustedes.", first[-1].end + 2.5)
    decoder = MisdetectingDecoder(first + second, language="es")
    speech = ((0.9, first[-1].end + 0.1), (second[0].start - 0.1, second[-1].end + 0.1))
    recognizer = scripted_recognizer(decoder, ScriptedVad(speech), recognizer_options(language=None))
    events = replay(recognizer, second[-1].end + 2.0)
    later = [e for e in events if isinstance(e, CaptionEvent) and e.end > first[-1].end + 1.0]
    assert later and {e.lang for e in later} == {"es"}
    assert not any("عربي" in e.text for e in later)
    assert join_words([w for f in finals(events) for w in f.words]) == join_words(first + second)
    # The detection did run on the short windows: without the earlier sentence, Arabic would show.
    alone = MisdetectingDecoder(second, language="es")
    speech_alone = ((second[0].start - 0.1, second[-1].end + 0.1),)
    recognizer = scripted_recognizer(alone, ScriptedVad(speech_alone), recognizer_options(language=None))
    shown = [e for e in replay(recognizer, second[-1].end + 2.0) if isinstance(e, CaptionEvent)]
    assert any(e.lang == "ar" and "عربي" in e.text for e in shown)


class SwitchingDecoder(ScriptedDecoder):
    """Hears English before ``switch`` seconds and, confidently, Spanish after."""

    switch: float = 0.0

    def decode(self, audio, *, prompt, prefix, language, beam_size=1):
        hypothesis = super().decode(audio, prompt=prompt, prefix=prefix, language=language, beam_size=beam_size)
        heard = "es" if float(audio[0]) / SAMPLE_RATE >= self.switch else "en"
        if language is not None:
            return hypothesis
        ranked = ((heard, 0.95), ("en" if heard == "es" else "es", 0.03))
        return replace(hypothesis, language=heard, language_probability=0.95, language_probabilities=ranked)


def test_a_speaker_who_switches_language_gets_partials_in_the_new_one():
    first = sentence_words("Welcome everybody.", 1.0)
    second = sentence_words("Hoy tenemos una oferta muy buena para ustedes.", first[-1].end + 2.5)
    decoder = SwitchingDecoder(first + second)
    decoder.switch = second[0].start - 0.5
    speech = ((0.9, first[-1].end + 0.1), (second[0].start - 0.1, second[-1].end + 0.1))
    recognizer = scripted_recognizer(decoder, ScriptedVad(speech), recognizer_options(language=None))
    events = replay(recognizer, second[-1].end + 2.0)
    spanish = [
        (i, e) for i, e in enumerate(events) if isinstance(e, CaptionEvent) and e.start >= decoder.switch
    ]
    first_final = min(i for i, e in spanish if e.kind == "final")
    assert any(e.kind == "partial" and e.text for i, e in spanish if i < first_final)
    assert {e.lang for _, e in spanish} == {"es"}


class NeighbourDecoder(ScriptedDecoder):
    """The second sentence is detected as Portuguese (0.69, Spanish 0.21), as Whisper
    base detected a short Spanish phrase; decoded in each language, the words score
    ``scores[language]`` (their average log-probability)."""

    after: float = 0.0
    scores: dict[str, float] = {}
    ranked: tuple[tuple[str, float], ...] = (("pt", 0.69), ("es", 0.21), ("gl", 0.05))

    def decode(self, audio, *, prompt, prefix, language, beam_size=1):
        hypothesis = super().decode(audio, prompt=prompt, prefix=prefix, language=language, beam_size=beam_size)
        if float(audio[0]) / SAMPLE_RATE < self.after:
            return hypothesis
        if language is None:
            top, p = self.ranked[0]
            return replace(hypothesis, language=top, language_probability=p, language_probabilities=self.ranked)
        return replace(hypothesis, avg_logprob=self.scores.get(language, -1.0))


def neighbour_switch(scores: dict[str, float]):
    first = sentence_words("Las arenas son blanquecinas.", 1.0)
    second = sentence_words("Y tiene muy poca asistencia.", first[-1].end + 2.0)
    decoder = NeighbourDecoder(first + second, language="es")
    decoder.after, decoder.scores = second[0].start - 0.5, scores
    speech = ((0.9, first[-1].end + 0.1), (second[0].start - 0.1, second[-1].end + 0.1))
    recognizer = scripted_recognizer(decoder, ScriptedVad(speech), recognizer_options(language=None))
    finals_after = [e for e in finals(replay(recognizer, second[-1].end + 2.0)) if e.start >= decoder.after]
    return finals_after, second


def test_a_close_call_for_another_language_is_settled_by_how_likely_the_words_are():
    kept, second = neighbour_switch({"es": -0.21, "pt": -0.36})
    assert {e.lang for e in kept} == {"es"}
    assert join_words([w for e in kept for w in e.words]) == join_words(second)
    # The same detection, but the words are likelier in Portuguese: the speaker switched.
    switched, _ = neighbour_switch({"es": -0.50, "pt": -0.20})
    assert switched and {e.lang for e in switched} == {"pt"}


def first_utterance_close_call(scores: dict[str, float]):
    words = sentence_words("Las arenas son blanquecinas y tiene muy poca asistencia.", 1.0)
    decoder = NeighbourDecoder(words, language="es")
    decoder.scores, decoder.ranked = scores, (("pt", 0.57), ("es", 0.32), ("gl", 0.05))
    speech = ((0.9, words[-1].end + 0.1),)
    recognizer = scripted_recognizer(decoder, ScriptedVad(speech), recognizer_options(language=None))
    return finals(replay(recognizer, words[-1].end + 2.0)), words


def test_a_close_call_in_the_first_utterance_is_settled_by_how_likely_the_words_are():
    """Spanish in crowd noise detected as Portuguese 0.57, Spanish 0.32 (base on an
    AVX2 CPU): with no language before it, the runner-up is decoded too."""
    kept, words = first_utterance_close_call({"es": -0.21, "pt": -0.36})
    assert {e.lang for e in kept} == {"es"}
    assert join_words([w for e in kept for w in e.words]) == join_words(words)
    switched, _ = first_utterance_close_call({"es": -0.50, "pt": -0.20})
    assert switched and {e.lang for e in switched} == {"pt"}


class HeardOnlyInRivalDecoder(NeighbourDecoder):
    """Noise the detection calls Portuguese 0.57 / Spanish 0.32: forced to Portuguese
    the decoder hears nothing, forced to Spanish it makes up words."""

    def decode(self, audio, *, prompt, prefix, language, beam_size=1):
        hypothesis = super().decode(audio, prompt=prompt, prefix=prefix, language=language, beam_size=beam_size)
        return hypothesis if language in (None, "es") else replace(hypothesis, words=())


def test_a_close_call_on_audio_the_detected_language_hears_as_nothing_makes_no_words():
    words = sentence_words("Gracias por ver el video.", 1.0)
    decoder = HeardOnlyInRivalDecoder(words, language="es")
    decoder.scores, decoder.ranked = {"es": -0.3, "pt": -0.9}, (("pt", 0.57), ("es", 0.32), ("gl", 0.05))
    speech = ((0.9, words[-1].end + 0.1),)
    recognizer = scripted_recognizer(decoder, ScriptedVad(speech), recognizer_options(language=None))
    assert not finals(replay(recognizer, words[-1].end + 2.0))


BLIP = sentence_words("However,", 1.0, seconds_per_word=0.2)  # 0.18 s: less than an utterance needs


def blip_then_speech(gap: float, language: str | None = "en", text: str = "due to the slow channels styles could lag behind."):
    rest = sentence_words(text, BLIP[-1].end + gap)
    decoder = ScriptedDecoder(BLIP + rest)
    speech = ((BLIP[0].start, BLIP[-1].end), (rest[0].start - 0.05, rest[-1].end + 0.1))
    recognizer = scripted_recognizer(decoder, ScriptedVad(speech), recognizer_options(language=language))
    return recognizer, decoder, rest


def test_a_word_too_short_to_decode_alone_opens_the_utterance_that_follows_it():
    """The VAD hears "However," for less than an utterance needs; speech resumes 0.6 s
    later: the word is decoded with what follows instead of being dropped."""
    recognizer, _, rest = blip_then_speech(gap=0.6)
    events = replay(recognizer, rest[-1].end + 2.0)
    assert join_words([w for f in finals(events) for w in f.words]) == join_words(BLIP + rest)


def test_a_short_sound_long_before_speech_is_not_kept():
    recognizer, decoder, rest = blip_then_speech(gap=2.0)
    events = replay(recognizer, rest[-1].end + 2.0)
    assert join_words([w for f in finals(events) for w in f.words]).lower() == join_words(rest).lower()
    assert all(start > BLIP[-1].end for start, _, _, _ in decoder.calls)


def test_the_held_word_is_not_heard_by_the_language_detection():
    """Music held the same way made the detection take a Spanish clip for Arabic: the
    held audio joins the window only once the language is settled."""
    recognizer, decoder, rest = blip_then_speech(gap=0.6, language=None)
    events = replay(recognizer, rest[-1].end + 2.0)
    undetected = [start for start, _, _, _ in decoder.calls[:2]]
    assert min(undetected) > BLIP[-1].end
    assert join_words([w for f in finals(events) for w in f.words]) == join_words(BLIP + rest)


class LostDecoder(ScriptedDecoder):
    """Loses its way on windows ending between ``lost_from`` and ``lost_to`` seconds:
    it writes the same invented words there, with Whisper's sign of a failed decode
    (an average log-probability below -1)."""

    lost_from: float = 0.0
    lost_to: float = 0.0

    def decode(self, audio, *, prompt, prefix, language, beam_size=1):
        hypothesis = super().decode(audio, prompt=prompt, prefix=prefix, language=language, beam_size=beam_size)
        end = (float(audio[-1]) + 1) / SAMPLE_RATE
        if not self.lost_from <= end < self.lost_to:
            return hypothesis
        invented = tuple(replace(w, text=" soil") for w in hypothesis.words)
        return replace(hypothesis, words=invented, avg_logprob=-1.5)


def test_decodes_that_lost_their_way_do_not_agree_on_what_they_invented():
    def run(**options):
        decoder = LostDecoder(SPEECH)
        decoder.lost_from, decoder.lost_to = 3.0, 5.0
        vad = ScriptedVad(((0.9, SPEECH_END + 0.1),))
        recognizer = scripted_recognizer(decoder, vad, recognizer_options(language="en", **options))
        events = replay(recognizer, SPEECH_END + 2.0)
        return join_words([w for f in finals(events) for w in f.words]), decoder

    heard, decoder = run()
    assert heard == join_words(SPEECH)
    assert sum(1 for c in decoder.calls if 3.0 <= c[1] < 5.0) >= 3  # several decodes were lost
    # Counted as agreement, the invented words would have become final.
    heard, _ = run(min_avg_logprob=-2.0)
    assert "soil" in heard


def test_the_held_word_is_decoded_when_the_language_settles_only_at_the_pause():
    """An utterance too short for a running decode to settle its language: the decode
    at the pause settles it, puts the held word back in front, and hears it, the word
    times where the words were said."""
    recognizer, _, rest = blip_then_speech(gap=0.6, language=None, text="due")
    events = replay(recognizer, rest[-1].end + 2.0)
    final_words = [w for f in finals(events) for w in f.words]
    assert join_words(final_words) == join_words(BLIP + rest)
    assert [w.start for w in final_words] == [w.start for w in BLIP + rest]
