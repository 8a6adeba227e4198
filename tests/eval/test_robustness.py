"""The fast part of the robustness suite, with the real ``base`` model (a couple of minutes on 2 cores).

Thresholds come from measurement (docs/eval.md): short clips carry few words, so a
single word moves WER by 5-10 points, hence the absolute margins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from livetrans.evaluation.conditions import ConditionLibrary, nonspeech_specs, speech_specs
from livetrans.evaluation.report import pooled_error
from livetrans.evaluation.suite import SuiteOptions, run_condition

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
# Clips with enough words to score (12-22 words each), two languages, native and non-native.
CLIPS = ("jfk_inaugural_1961", "picovoice_test_en", "picovoice_test_es")
NOISES = ("crowd", "music", "restaurant")
NOISY_SNR_DB = 10.0
NONSPEECH_SECONDS = 20.0

NOISE_FACTOR = 1.5  # at 10 dB, WER at most 1.5x the clean WER ...
NOISE_MARGIN = 0.10  # ... plus 10 points, for short clips
# Streaming WER at most 10 points above offline on clean speech: 5 words of the 51.
# int8 decoding differs between CPUs by a word here and there: measured 5.9 points on an
# AVX-512 EPYC (2026-11-22: "blancasinas", "tienen", "cistercia" in the Spanish clip) and
# 9.8 on an AVX2 EPYC (2026-12-02: the same three and JFK's "asked not"), offline 0 on both.
STREAMING_MARGIN = 0.10


@pytest.fixture(scope="module")
def library() -> ConditionLibrary:
    return ConditionLibrary(SAMPLES, seed=0)


# Each decode is charged a fixed time on the virtual clock, so what the recogniser does
# does not depend on how busy the test machine is (as in tests/test_speech_models.py).
OPTIONS = SuiteOptions(decode_cost=0.35)


@pytest.fixture(scope="module")
def models(base_models: Any) -> Any:
    return base_models


@pytest.fixture(scope="module")
def speech_results(library: ConditionLibrary, models: Any) -> list[dict[str, Any]]:
    clips = [library.clip(key) for key in CLIPS]
    specs = speech_specs(clips, list(NOISES), (NOISY_SNR_DB,))
    return [run_condition(library.render(spec), models, OPTIONS) for spec in specs]


def _describe(results: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{r['name']}: stream {r['stream_error']:.2f} offline {r['offline_error']:.2f} | {r['stream_text']!r}"
        for r in results
    )


def test_streaming_wer_close_to_offline_on_clean_speech(speech_results: list[dict[str, Any]]) -> None:
    clean = [r for r in speech_results if r["kind"] == "clean"]
    stream, offline = pooled_error(clean, "stream_error"), pooled_error(clean, "offline_error")
    assert stream is not None and offline is not None
    assert stream <= offline + STREAMING_MARGIN, _describe(clean)


# On an AVX2 CPU the Spanish clip in crowd noise is decoded as Portuguese from its first
# word (the first utterance has no earlier language to contest the detection with): a
# known weakness of issue 22, kept visible here rather than hidden by a wider margin.
SPANISH_AS_PORTUGUESE = pytest.mark.xfail(
    reason="issue 22: noisy Spanish detected as Portuguese on some CPUs", strict=False
)


@pytest.mark.parametrize(
    "noise", [pytest.param(n, marks=SPANISH_AS_PORTUGUESE) if n == "crowd" else n for n in NOISES]
)
def test_wer_at_10db_within_1_5x_clean(noise: str, speech_results: list[dict[str, Any]]) -> None:
    """Streaming WER with each noise at 10 dB SNR stays near the clean WER (pooled over the clips)."""
    clean = [r for r in speech_results if r["kind"] == "clean"]
    noisy = [r for r in speech_results if r["noise"] == noise]
    clean_wer, noisy_wer = pooled_error(clean, "stream_error"), pooled_error(noisy, "stream_error")
    assert clean_wer is not None and noisy_wer is not None
    assert noisy_wer <= NOISE_FACTOR * clean_wer + NOISE_MARGIN, _describe(clean + noisy)


@pytest.fixture(scope="module")
def nonspeech_results(library: ConditionLibrary, models: Any) -> dict[str, dict[str, Any]]:
    specs = nonspeech_specs(NONSPEECH_SECONDS)
    return {s.name.rsplit("/", 1)[-1]: run_condition(library.render(s), models, OPTIONS) for s in specs}


@pytest.mark.parametrize("kind", ["noise", "music", "silence"])
def test_no_words_on_nonspeech_streaming(kind: str, nonspeech_results: dict[str, dict[str, Any]]) -> None:
    """Noise, music or silence alone make no live captions."""
    result = nonspeech_results[kind]
    assert result["stream_words"] == 0, result["stream_text"]


@pytest.mark.parametrize("kind", ["noise", "music", "silence"])
def test_no_words_on_nonspeech_offline(kind: str, nonspeech_results: dict[str, dict[str, Any]]) -> None:
    """The offline path (``livetrans transcribe`` without --live) makes no words on them either."""
    result = nonspeech_results[kind]
    assert result["offline_words"] == 0, result["offline_text"]
