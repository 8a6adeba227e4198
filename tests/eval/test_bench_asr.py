"""``livetrans bench asr --shifts``: the same clips replayed behind more leading silence."""

from __future__ import annotations

import pytest

from livetrans.evaluation.bench_asr import SHIFT_SECONDS, bench_language
from livetrans.pipeline import PipelineConfig


def test_shifted_replays_are_averaged_and_their_latencies_pooled(base_models, speech_clips):
    clips = [c for c in speech_clips if c.lang == "pt"]
    config = PipelineConfig(model="base")
    once = bench_language("pt", clips, config, base_models, "virtual", decode_cost=0.35)
    twice = bench_language("pt", clips, config, base_models, "virtual", decode_cost=0.35, shifts=2)
    assert once["shifts"] == 1 and twice["shifts"] == 2
    assert twice["streaming_error_rates"][0] == once["streaming_error_rate"]
    assert len(twice["streaming_error_rates"]) == len(twice["offline_error_rates"]) == 2
    assert twice["streaming_error_rate"] == pytest.approx(sum(twice["streaming_error_rates"]) / 2, abs=1e-4)
    assert twice["offline_error_rate"] == pytest.approx(sum(twice["offline_error_rates"]) / 2, abs=1e-4)
    assert twice["audio_seconds"] == pytest.approx(2 * once["audio_seconds"] + SHIFT_SECONDS, abs=0.02)
    assert twice["latency"]["reference_words"] == 2 * once["latency"]["reference_words"]
    assert len(twice["final_latencies"]) > len(once["final_latencies"])
