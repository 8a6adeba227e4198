"""Pure tests of the evaluation conditions: SNR mixing, noise looping, determinism, assembly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from livetrans.evaluation import conditions as C
from livetrans.evaluation import mixing as M
from livetrans.types import SAMPLE_RATE

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _speech_like(seconds: float, seed: int) -> np.ndarray:
    """Bursts of tone-plus-noise with silent gaps: a stand-in for speech with pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    envelope = (np.sin(2 * np.pi * 0.7 * t) > 0).astype(np.float64)
    signal = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)
    return (signal * envelope).astype(np.float32)


def _noise(seconds: float, seed: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)


@pytest.mark.parametrize("snr_db", [20.0, 10.0, 5.0, 0.0, -5.0])
@pytest.mark.parametrize("noise_seconds", [0.7, 3.0, 12.0])
def test_mix_hits_requested_snr_within_0_1_db(snr_db: float, noise_seconds: float) -> None:
    """Measured SNR (active speech power over noise power) equals the request, looped or cropped."""
    speech = _speech_like(5.0, seed=1)
    mix, scaled_noise = M.mix_at_snr(speech, _noise(noise_seconds, 2), snr_db, np.random.default_rng(3))
    assert len(mix) == len(speech)
    speech_part = mix - scaled_noise  # the clean speech, after any anti-clipping scale
    assert abs(M.measured_snr_db(speech_part, scaled_noise) - snr_db) < 0.1


def test_mix_at_low_snr_does_not_clip_and_keeps_snr() -> None:
    speech = _speech_like(3.0, seed=4) * 3.0  # near full scale
    mix, scaled_noise = M.mix_at_snr(speech, _noise(2.0, 5), 0.0, np.random.default_rng(6))
    assert np.max(np.abs(mix)) <= 0.99 + 1e-6
    assert abs(M.measured_snr_db(mix - scaled_noise, scaled_noise) - 0.0) < 0.1


def test_active_speech_power_ignores_pauses() -> None:
    """Adding silence to a clip does not change its active speech power (so its SNR)."""
    speech = _speech_like(3.0, seed=7)
    padded = np.concatenate([np.zeros(3 * SAMPLE_RATE, np.float32), speech, np.zeros(5 * SAMPLE_RATE, np.float32)])
    assert M.active_speech_power(padded) == pytest.approx(M.active_speech_power(speech), rel=0.02)
    assert M.power(padded) < 0.5 * M.power(speech)


def test_noise_bed_length_level_and_seeded_offset() -> None:
    noise = _noise(2.0, 8)
    a = M.noise_bed([noise], 10 * SAMPLE_RATE, np.random.default_rng(1))
    b = M.noise_bed([noise], 10 * SAMPLE_RATE, np.random.default_rng(1))
    c = M.noise_bed([noise], 10 * SAMPLE_RATE, np.random.default_rng(2))
    assert len(a) == 10 * SAMPLE_RATE
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # equal-power crossfades keep the level of uncorrelated noise within a few percent
    assert M.power(a) == pytest.approx(M.power(noise), rel=0.05)


def test_crossfade_concat_length() -> None:
    pieces = [np.ones(1000, np.float32), np.ones(500, np.float32), np.ones(800, np.float32)]
    assert len(M.crossfade_concat(pieces, 100)) == 1000 + 500 + 800 - 2 * 100


def test_condition_rng_depends_on_seed_and_name_only() -> None:
    x = M.condition_rng(0, "noise/crowd/10dB/en/a").random(4)
    np.testing.assert_array_equal(x, M.condition_rng(0, "noise/crowd/10dB/en/a").random(4))
    assert not np.array_equal(x, M.condition_rng(1, "noise/crowd/10dB/en/a").random(4))
    assert not np.array_equal(x, M.condition_rng(0, "noise/crowd/10dB/en/b").random(4))


def test_assemble_stream_places_utterances_without_overlap() -> None:
    clips = [
        (C.Clip(Path(f"{lang}{i}.wav"), lang, f"ref {lang} {i}", 2.0), _speech_like(2.0, i))
        for i, lang in enumerate(["en", "en", "es"])
    ]
    audio, placements = C.assemble_stream(clips, [_noise(3.0, 9)], 120.0, 15.0, np.random.default_rng(0))
    assert len(audio) / SAMPLE_RATE >= 120.0
    assert placements and placements[0].start >= 2.0
    for before, after in zip(placements, placements[1:]):
        assert after.start >= before.end + 0.5 - 1e-9
    assert placements[-1].end <= len(audio) / SAMPLE_RATE
    assert {p.lang for p in placements} == {"en", "es"}
    again, placements_again = C.assemble_stream(clips, [_noise(3.0, 9)], 120.0, 15.0, np.random.default_rng(0))
    np.testing.assert_array_equal(audio, again)
    assert placements == placements_again


def test_library_renders_deterministically_and_subset_independent() -> None:
    """The same spec gives the same audio whatever else is rendered, and a different seed differs."""
    lib = C.ConditionLibrary(SAMPLES, seed=0)
    clip = min(lib.clips, key=lambda c: c.duration)
    noise = sorted(lib.noise_paths)[0]
    spec = C.speech_specs([clip], [noise], (10.0,))[1]
    first = lib.render(spec).audio
    lib.render(C.nonspeech_specs(5.0)[0])
    np.testing.assert_array_equal(first, C.ConditionLibrary(SAMPLES, seed=0).render(spec).audio)
    assert not np.array_equal(first, C.ConditionLibrary(SAMPLES, seed=1).render(spec).audio)
    clean = lib.render(C.speech_specs([clip], [], ())[0]).audio
    assert abs(M.measured_snr_db(clean, first - clean) - 10.0) < 0.1


def test_nonspeech_levels() -> None:
    lib = C.ConditionLibrary(SAMPLES, seed=0)
    rendered = {s.name: lib.render(s) for s in C.nonspeech_specs(8.0)}
    for cond in rendered.values():
        assert cond.duration == pytest.approx(8.0, abs=1e-3)
    assert M.dbfs(rendered["nonspeech/silence"].audio) == pytest.approx(C.SILENCE_DBFS, abs=0.5)
    assert M.dbfs(rendered["nonspeech/music"].audio) <= C.BACKGROUND_DBFS + 0.1
    assert M.dbfs(rendered["nonspeech/noise"].audio) > C.BACKGROUND_DBFS - 10.0
