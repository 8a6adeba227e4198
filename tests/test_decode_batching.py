"""Batched decoding with the real Whisper base model on real recordings: a batch of
requests gets what each request gets alone, and streams decoded through the
scheduler caption the same text as streams that call the model themselves."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
from speech_testkit import SAMPLES, padded

from livetrans.asr.whisper_batch import decode_batch
from livetrans.core.batching import BatchOptions
from livetrans.core.decoding import DecodeRequest, Hypothesis, decode
from livetrans.core.driver import DecodingRecognizer
from livetrans.core.recognizer import RecognizerOptions, StreamingRecognizer
from livetrans.pipeline import SpeechModels
from livetrans.scheduler import BatchingDecoder
from livetrans.sources import load_audio
from livetrans.types import SAMPLE_RATE, AudioChunk, CaptionEvent

SPEECH = SAMPLES / "speech"


@pytest.fixture(scope="module")
def scheduler(base_models: SpeechModels) -> Iterator[BatchingDecoder]:
    batching = BatchingDecoder(lambda requests: decode_batch(base_models.whisper, requests), BatchOptions(max_wait=0.05))
    yield batching
    batching.close()


def requests() -> list[DecodeRequest]:
    """Windows as recognisers ask for them: detected and given languages, prompts and
    forced prefixes of different lengths, both beam sizes, both encoder buckets, silence."""
    en = load_audio(SPEECH / "en" / "jfk_inaugural_1961.flac")
    es = load_audio(SPEECH / "es" / "fleurs-es-000.ogg")
    zh = load_audio(SPEECH / "zh" / "aishell_BAC009S0724W0121.wav")
    fr = load_audio(SPEECH / "fr" / "fleurs-fr-000.ogg")
    return [
        DecodeRequest(en, "", "", None, 1),
        DecodeRequest(es[: 6 * SAMPLE_RATE], "Hola.", "", "es", 1),
        DecodeRequest(en[: 7 * SAMPLE_RATE], "The words said before this window.", "And so my fellow", "en", 1),
        DecodeRequest(zh, "", "", None, 1),
        DecodeRequest(fr, "", "", "fr", 3),
        DecodeRequest(es, "", "Se recomienda", "es", 3),
        DecodeRequest(np.zeros(2 * SAMPLE_RATE, np.float32), "", "", "en", 1),
        DecodeRequest(np.concatenate([en, es]), "", "", None, 1),  # over 20 s: the 30 s bucket
        DecodeRequest(en[: 3 * SAMPLE_RATE], "", "", "en", 1),
    ]


# A word's probability moves a little with the padding of the others in its batch:
# by up to 0.029 measured on an AVX-512 EPYC (2026-12-02), less on AVX2.
WORD_PROBABILITY_TOLERANCE = 0.05


def same_hypothesis(alone: Hypothesis, batched: Hypothesis) -> None:
    assert [w.text for w in batched.prefix_words] == [w.text for w in alone.prefix_words]
    assert [w.text for w in batched.words] == [w.text for w in alone.words]
    assert batched.language == alone.language
    for a, b in zip(alone.prefix_words + alone.words, batched.prefix_words + batched.words):
        assert b.probability == pytest.approx(a.probability, abs=WORD_PROBABILITY_TOLERANCE)
        assert b.start == pytest.approx(a.start, abs=0.05) and b.end == pytest.approx(a.end, abs=0.05)
    assert batched.language_probability == pytest.approx(alone.language_probability, abs=0.02)
    assert batched.avg_logprob == pytest.approx(alone.avg_logprob, abs=0.02)
    assert batched.no_speech_probability == pytest.approx(alone.no_speech_probability, abs=0.02)
    assert batched.compression_ratio == pytest.approx(alone.compression_ratio, abs=1e-6)


def test_a_batch_decodes_each_request_as_it_is_decoded_alone(base_models: SpeechModels) -> None:
    batch = requests()
    alone = [decode(base_models.whisper, r) for r in batch]
    assert sum(bool(h.words) for h in alone) >= 7  # the speech is heard
    for a, b in zip(alone, decode_batch(base_models.whisper, batch), strict=True):
        same_hypothesis(a, b)


def test_concurrent_streams_get_their_own_hypotheses(base_models: SpeechModels, scheduler: BatchingDecoder) -> None:
    """Several streams' decodes at once share model calls, and each stream gets the
    hypothesis of its own request."""
    batch = requests()[:4]
    alone = [decode(base_models.whisper, r) for r in batch]
    got: list[Hypothesis | None] = [None] * len(batch)
    before = scheduler.stats.batches
    barrier = threading.Barrier(len(batch))

    def stream(i: int) -> None:
        decoder = scheduler.stream()
        barrier.wait()
        got[i] = decode(decoder, batch[i])

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(len(batch))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for a, b in zip(alone, got, strict=True):
        assert b is not None
        same_hypothesis(a, b)
    assert scheduler.stats.batches - before < len(batch)  # some requests shared a call


def test_streams_decoding_at_once_without_batching_get_what_each_gets_alone(base_models: SpeechModels) -> None:
    """Without the scheduler, streams call the model from their own threads: up to one
    decode a core runs at once, each on one thread, and each stream gets the
    hypothesis of its own request."""
    engine = base_models.whisper
    batch = requests()[:4]
    alone = [decode(engine, r) for r in batch]
    got: list[Hypothesis | None] = [None] * len(batch)
    barrier = threading.Barrier(len(batch))
    engine.most_running = 0

    def stream(i: int) -> None:
        barrier.wait()
        got[i] = decode(engine, batch[i])

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(len(batch))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for a, b in zip(alone, got, strict=True):
        assert b is not None
        same_hypothesis(a, b)
    assert engine.most_running == min(engine.parallel, len(batch))


def test_a_failed_batch_fails_each_of_its_callers_and_the_scheduler_goes_on(base_models: SpeechModels) -> None:
    """A language the model does not know fails the call it is in; the caller batched
    with it gets the failure too (its recogniser retries); later calls work."""
    # A long wait: the two requests surely share a call (it goes when both have asked).
    scheduler = BatchingDecoder(lambda rs: decode_batch(base_models.whisper, rs), BatchOptions(max_wait=30.0))
    audio = load_audio(SPEECH / "en" / "jfk_inaugural_1961.flac")
    bad = DecodeRequest(audio, "", "", "xx", 1)
    good = DecodeRequest(audio, "", "", "en", 1)
    decoders = [scheduler.stream(), scheduler.stream()]
    errors: list[BaseException] = []

    def stream(i: int, request: DecodeRequest) -> None:
        try:
            decode(decoders[i], request)
        except ValueError as e:  # the tokenizer's: no such language
            errors.append(e)

    threads = [threading.Thread(target=stream, args=(i, r)) for i, r in enumerate((bad, good))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert len(errors) == 2 and errors[0] is errors[1]
        assert scheduler.stats.failures == 1 and scheduler.stats.sizes == {2: 1}
        decoders[0].close()  # one stream ends; the other decodes on, alone
        assert "fellow" in "".join(w.text for w in decode(decoders[1], good).words).lower()
    finally:
        scheduler.close()


def test_a_recogniser_has_one_request_pending_at_most(base_models: SpeechModels) -> None:
    """What bounds each stream's queue in the scheduler at one request: a recogniser
    takes no more audio into a decode until its pending request is answered."""
    recognizer = StreamingRecognizer(base_models.vad.stream(), RecognizerOptions(language="en"))
    audio = padded(SPEECH / "en" / "jfk_inaugural_1961.flac")
    for first in range(0, len(audio), SAMPLE_RATE):
        recognizer.push(AudioChunk(audio[first : first + SAMPLE_RATE], first / SAMPLE_RATE))
    request = recognizer.pending
    assert request is not None
    assert recognizer.pending is request  # more audio queues; the request stays the one
    recognizer.push(AudioChunk(np.zeros(SAMPLE_RATE, np.float32), len(audio) / SAMPLE_RATE))
    assert recognizer.pending is request


def replay(recognizer: DecodingRecognizer, audio: np.ndarray) -> str:
    step = SAMPLE_RATE // 2
    events = []
    for first in range(0, len(audio), step):
        events += recognizer.push(AudioChunk(audio[first : first + step], first / SAMPLE_RATE))
    events += recognizer.flush()
    return " ".join(e.text for e in events if isinstance(e, CaptionEvent) and e.kind == "final")


def test_streams_caption_the_same_text_with_and_without_batching(
    base_models: SpeechModels, scheduler: BatchingDecoder
) -> None:
    clips = [SPEECH / "en" / "librispeech_1995-1837-0001.wav", SPEECH / "es" / "picovoice_test_es.wav",
             SPEECH / "de" / "picovoice_test_de.wav"]  # fmt: skip
    audio = [padded(c) for c in clips]
    options = RecognizerOptions()
    alone = [
        replay(DecodingRecognizer(StreamingRecognizer(base_models.vad.stream(), options), base_models.whisper), a)
        for a in audio
    ]
    batched: list[str] = [""] * len(audio)
    before = scheduler.stats.requests, scheduler.stats.batches

    def stream(i: int) -> None:
        recognizer = DecodingRecognizer(StreamingRecognizer(base_models.vad.stream(), options), scheduler.stream())
        batched[i] = replay(recognizer, audio[i])

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(len(audio))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert all(alone) and batched == alone
    requests_done = scheduler.stats.requests - before[0]
    assert requests_done > scheduler.stats.batches - before[1]  # the streams did share calls
