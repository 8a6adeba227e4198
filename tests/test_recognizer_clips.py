"""The recogniser's rules on the real clips that show them, with the real Whisper
base model, replayed on a virtual clock with a fixed decode cost (deterministic).
The same rules are pinned down with scripted decoders in test_recognizer.py."""

from __future__ import annotations

import pytest
from speech_testkit import SAMPLES, padded

from livetrans.evaluation.replay import replay
from livetrans.pipeline import PipelineConfig
from livetrans.types import CaptionEvent

DECODE_COST = 0.35  # seconds, as test_speech_models.py charges


@pytest.fixture(scope="module")
def finals(base_models):
    def run(clip: str) -> list[CaptionEvent]:
        config = PipelineConfig(model="base")  # the language detected, as a viewer's stream is
        result = replay(padded(SAMPLES / "speech" / clip), config=config, models=base_models, clock="virtual", decode_cost=DECODE_COST)
        return [e for e in result.events if isinstance(e, CaptionEvent) and e.kind == "final"]

    return run


def test_a_word_too_short_to_decode_alone_opens_the_utterance_after_it(finals):
    """The clip opens with "However," and a breath: the VAD hears the word for less
    than an utterance needs. Held, it is decoded with the speech that follows."""
    events = finals("en/fleurs-en-000.ogg")
    assert events and events[0].text.lower().startswith("however")


def test_a_phrase_after_a_breath_is_decoded_hearing_the_one_before_in_its_language(finals):
    """ "de grano medio" after a breath, decoded cold, was misheard; the short phrase
    after the next pause was detected as a neighbouring language. Heard with the
    phrase before, and settled by how likely its words are, both stay Spanish."""
    events = finals("es/picovoice_test_es.wav")
    text = " ".join(e.text for e in events).lower()
    assert "grano medio" in text and "asistencia" in text
    assert {e.lang for e in events} == {"es"}
