"""A decode may write as many tokens as the engine means to allow it, whatever the
length of its prompt (CTranslate2's Whisper writes at most half its ``max_length``)."""

from __future__ import annotations

import numpy as np
import pytest
from speech_testkit import SAMPLES

from livetrans.asr.whisper import max_length_for, new_tokens_allowed
from livetrans.pipeline import SpeechModels
from livetrans.sources import load_audio
from livetrans.types import SAMPLE_RATE


@pytest.mark.parametrize("prompt_words", [0, 10, 96])
@pytest.mark.parametrize("ceiling", [7, 20])
def test_a_decode_writes_up_to_its_ceiling_after_a_short_or_a_long_prompt(
    base_models: SpeechModels, prompt_words: int, ceiling: int
) -> None:
    engine = base_models.whisper
    audio = load_audio(SAMPLES / "speech" / "es" / "fleurs-es-000.ogg")  # about 43 tokens of speech
    encoded = engine._model.encode(np.stack([engine._features(audio, 20 * SAMPLE_RATE)]))
    tokenizer = engine._tokenizer("es")
    previous = tokenizer.encode(" " + "hola " * prompt_words) if prompt_words else []
    prompt = engine._model.get_prompt(tokenizer, previous, without_timestamps=True)
    max_length = max_length_for(len(prompt), ceiling)
    result = engine._model.model.generate(encoded, [prompt], beam_size=1, max_length=max_length)
    written = result[0].sequences_ids[0]
    assert len(written) == ceiling == new_tokens_allowed(len(prompt), max_length)
