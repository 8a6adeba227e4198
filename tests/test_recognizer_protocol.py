"""The recogniser as a request/response object: it hands out decode requests and
takes hypotheses back (no model, no clock), and a decode that raises never ends
the stream."""

from __future__ import annotations

import numpy as np
import pytest
from scripted import ScriptedDecoder, ScriptedVad, chunks, options, sentence_words

from livetrans.core.decoding import DecodeRequest, decode
from livetrans.core.driver import DecodingRecognizer
from livetrans.core.events import event_from_dict, event_to_dict
from livetrans.core.recognizer import StreamingRecognizer
from livetrans.core.stabilizer import join_words
from livetrans.types import CaptionEvent, ErrorEvent, SentenceEvent, is_durable

FIRST = sentence_words("Welcome to the show.", 1.0)
SECOND = sentence_words("Buy two and get one free.", 6.0)
SPEECH = ((0.9, FIRST[-1].end + 0.1), (SECOND[0].start - 0.1, SECOND[-1].end + 0.1))
END = SECOND[-1].end + 2.0


def finals_text(events) -> str:
    return join_words([w for e in events if isinstance(e, CaptionEvent) and e.kind == "final" for w in e.words])


def test_the_recogniser_hands_out_decode_requests_and_takes_hypotheses_back():
    decoder = ScriptedDecoder(FIRST + SECOND)
    recognizer = StreamingRecognizer(ScriptedVad(SPEECH), options())
    events = []
    requests: list[DecodeRequest] = []
    for chunk in chunks(END):
        events += recognizer.push(chunk)
        while (request := recognizer.pending) is not None:
            requests.append(request)
            events += recognizer.resolve(decode(decoder, request))
    events += recognizer.flush()
    while (request := recognizer.pending) is not None:
        events += recognizer.resolve(decode(decoder, request))
    assert finals_text(events) == join_words(FIRST + SECOND)
    assert recognizer.stats.decodes == len(decoder.calls) >= len(requests)
    assert all(r.language == "en" and r.beam_size >= 1 and len(r.audio) for r in requests)
    with pytest.raises(AttributeError):
        requests[0].prompt = "changed"  # type: ignore[misc]


def test_audio_pushed_while_a_decode_is_pending_waits_for_its_answer():
    """A scheduler may answer a request late: audio meanwhile is queued, and the
    events come out as if it had been answered at once."""
    at_once = DecodingRecognizer(StreamingRecognizer(ScriptedVad(SPEECH), options()), ScriptedDecoder(FIRST + SECOND))
    expected = [e for c in chunks(END) for e in at_once.push(c)] + at_once.flush()

    decoder = ScriptedDecoder(FIRST + SECOND)
    recognizer = StreamingRecognizer(ScriptedVad(SPEECH), options())
    events = []
    for chunk in chunks(END):
        events += recognizer.push(chunk)
        request = recognizer.pending
        if request is not None and len(decoder.calls) % 2:  # every other request: a chunk late
            continue
        while (request := recognizer.pending) is not None:
            events += recognizer.resolve(decode(decoder, request))
    events += recognizer.flush()
    while (request := recognizer.pending) is not None:
        events += recognizer.resolve(decode(decoder, request))
    assert finals_text(events) == finals_text(expected)
    assert [e.text for e in events if isinstance(e, SentenceEvent)] == [
        e.text for e in expected if isinstance(e, SentenceEvent)
    ]


def test_resolve_without_a_pending_request_is_refused():
    recognizer = StreamingRecognizer(ScriptedVad(SPEECH), options())
    with pytest.raises(RuntimeError):
        recognizer.resolve(ScriptedDecoder(FIRST).decode(np.zeros(1600, np.float32), prompt="", prefix="", language="en"))


class FailingDecoder(ScriptedDecoder):
    """Raises on the first ``failures`` decodes of windows that end before ``until``."""

    failures: int = 0
    until: float = 0.0

    def decode(self, audio, *, prompt, prefix, language, beam_size=1):
        end = (float(audio[-1]) + 1) / 16000
        if self.failures and end < self.until:
            self.failures -= 1
            raise RuntimeError("CUDA out of memory")
        return super().decode(audio, prompt=prompt, prefix=prefix, language=language, beam_size=beam_size)


def run_failing(failures: int, until: float):
    decoder = FailingDecoder(FIRST + SECOND)
    decoder.failures, decoder.until = failures, until
    recognizer = DecodingRecognizer(StreamingRecognizer(ScriptedVad(SPEECH), options()), decoder)
    events = [e for c in chunks(END) for e in recognizer.push(c)] + recognizer.flush()
    return events, recognizer


def test_a_decode_that_raises_once_is_retried_and_the_text_is_intact():
    events, recognizer = run_failing(failures=1, until=END)
    assert finals_text(events) == join_words(FIRST + SECOND)
    assert recognizer.stats.failed == 1
    assert not [e for e in events if isinstance(e, ErrorEvent)]


def test_a_window_whose_decode_always_raises_is_dropped_and_the_next_utterance_is_decoded():
    events, recognizer = run_failing(failures=1000, until=SECOND[0].start - 0.5)
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert errors and all(e.code == "decode_failed" and not is_durable(e) for e in errors)
    assert all(e.end <= SECOND[0].start for e in errors)
    assert errors[0].start <= FIRST[0].start
    assert finals_text(events) == join_words(SECOND)  # the stream went on
    assert recognizer.stats.failed == 2 * len(errors)  # each tried twice


def test_the_error_event_goes_out_as_json_and_back():
    error = ErrorEvent("decode_failed", "the speech model failed", 1.25, 3.5, seq=4, emitted_at=4.0)
    data = event_to_dict(error)
    assert data["type"] == "error" and data["code"] == "decode_failed"
    assert event_from_dict(data) == error
