"""Pure tests of the evaluation conditions: SNR mixing, noise looping, determinism, assembly."""

from __future__ import annotations

from dataclasses import replace
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


# ---------------------------------------------------------------- the tuning and held-out sets


def test_read_manifest_gives_the_tuning_set_unless_asked() -> None:
    """Tests and benchmarks that call read_manifest() never see held-out speech."""
    tuning = C.read_manifest(SAMPLES)
    heldout = C.read_manifest(SAMPLES, ("heldout",))
    assert tuning and heldout
    assert {c.sample_set for c in tuning} == {"tuning"} and {c.sample_set for c in heldout} == {"heldout"}
    assert not {c.key for c in tuning} & {c.key for c in heldout}
    for langs in ({c.lang for c in tuning}, {c.lang for c in heldout}):
        assert {"en", "es", "zh"} <= langs
    assert len(C.read_manifest(SAMPLES, C.SAMPLE_SETS)) == len(tuning) + len(heldout)


def test_noise_types_are_named_and_belong_to_one_set() -> None:
    sets = C.noise_sets(SAMPLES)
    tuning = set(C.noise_files(SAMPLES))
    heldout = set(C.noise_files(SAMPLES, ("heldout",)))
    assert tuning == {k for k, s in sets.items() if s == "tuning"} and len(tuning) >= 6
    assert heldout == {k for k, s in sets.items() if s == "heldout"} and len(heldout) >= 3
    assert set(sets) <= set(C.NOISE_TYPES.values())  # every file has a type name, not its stem
    assert heldout & C.MUSIC_TYPES and heldout - C.MUSIC_TYPES  # music alone and noise alone both possible


def test_heldout_conditions_mix_heldout_speech_with_heldout_noise_only() -> None:
    from livetrans.evaluation.suite import SuiteOptions, plan

    lib = C.ConditionLibrary(SAMPLES, seed=0)
    options = SuiteOptions(groups=("clean", "noise", "nonspeech", "long"), snrs=(10.0,))
    specs = plan(lib, options)
    clip_set = {c.key: c.sample_set for c in lib.clips}
    for spec in specs:
        if spec.clip:
            assert spec.sample_set == clip_set[spec.clip]
        if spec.noise:
            assert lib.noise_set[spec.noise] == spec.sample_set
    heldout_only = plan(C.ConditionLibrary(SAMPLES, seed=0, sets=("heldout",)), replace(options, sets=("heldout",)))
    assert heldout_only == [s for s in specs if s.sample_set == "heldout"]
    names = {s.name for s in heldout_only if s.kind in ("nonspeech", "long")}
    assert names == {"heldout/nonspeech/noise", "heldout/nonspeech/music", "heldout/nonspeech/silence", "heldout/long/stream"}


def test_tuning_conditions_sound_the_same_whichever_sets_are_loaded() -> None:
    """Adding the held-out set changed no tuning condition: same names, same audio."""
    both = C.ConditionLibrary(SAMPLES, seed=0)
    tuning = C.ConditionLibrary(SAMPLES, seed=0, sets=("tuning",))
    clip = min(tuning.clips, key=lambda c: c.duration)
    spec = C.speech_specs([clip], ["crowd"], (10.0,))[1]
    assert spec.name == f"noise/crowd/10dB/{clip.lang}/{clip.key}"
    np.testing.assert_array_equal(both.render(spec).audio, tuning.render(spec).audio)
    music = C.nonspeech_specs(4.0)[1]
    np.testing.assert_array_equal(both.render(music).audio, tuning.render(music).audio)
    heldout_music = both.render(C.nonspeech_specs(4.0, "heldout")[1]).audio
    assert not np.array_equal(heldout_music, both.render(music).audio)


def test_long_stream_of_a_set_uses_only_its_speech() -> None:
    lib = C.ConditionLibrary(SAMPLES, seed=0)
    condition = lib.render(C.long_spec(1.0, sample_set="heldout"))
    heldout = {c.key for c in lib.clips if c.sample_set == "heldout"}
    assert condition.placements and {p.source for p in condition.placements} <= heldout


def test_quick_run_takes_the_shortest_clips_of_each_set() -> None:
    from livetrans.evaluation.suite import SuiteOptions, quick_options

    lib = C.ConditionLibrary(SAMPLES, seed=0)
    quick = quick_options(SuiteOptions(sets=("heldout",)), lib)
    chosen = [lib.clip(key) for key in quick.clips]
    assert {c.sample_set for c in chosen} == {"heldout"} and sorted(c.lang for c in chosen) == ["en", "es", "zh"]
    both = quick_options(SuiteOptions(), lib)
    assert len(both.clips) == 6 and both.sets == C.SAMPLE_SETS
