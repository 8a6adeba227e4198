"""Pure audio functions for the evaluation conditions: levels, SNR mixing, looped noise beds.

Mixing at a signal-to-noise ratio (``mix_at_snr``)::

    P_speech = mean power of the *active* 20 ms frames of the clean clip
               (frames within ACTIVE_RANGE_DB of the clip's 99th-percentile frame power)
    P_noise  = mean power of the noise segment, looped/cropped to the clip's length
               from a seeded offset (equal-power crossfades at the seams)
    gain     = sqrt(P_speech / (P_noise * 10 ** (snr_db / 10)))
    mix      = speech + gain * noise        (then scaled as a whole if it would clip)

so ``10 * log10(P_speech / mean((gain * noise) ** 2)) == snr_db``. Measuring speech
power on active frames only keeps pauses from lowering the SNR of a clip that
happens to have long silences.

All functions take arrays (float32, 16 kHz mono) and, where chance is involved, a
``numpy.random.Generator``; none reads files.
"""

from __future__ import annotations

import zlib

import numpy as np
import numpy.typing as npt

from livetrans.types import SAMPLE_RATE, Float32Array

FRAME_SAMPLES = 320  # 20 ms at SAMPLE_RATE, the frame for active-speech power
ACTIVE_RANGE_DB = 30.0  # frames this far below the loud frames still count as speech
CROSSFADE_SECONDS = 0.05  # seam between looped or concatenated noise pieces


def as_float32(samples: npt.ArrayLike) -> Float32Array:
    return np.ascontiguousarray(samples, dtype=np.float32)


def condition_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of one condition: depends on the suite seed and the condition name only."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def power(samples: Float32Array) -> float:
    return float(np.mean(np.square(samples, dtype=np.float64))) if len(samples) else 0.0


def dbfs(samples: Float32Array) -> float:
    return 10.0 * float(np.log10(max(power(samples), 1e-20)))


def active_speech_power(samples: Float32Array) -> float:
    """Mean power of the 20 ms frames within ACTIVE_RANGE_DB of the clip's loud frames."""
    n_frames = len(samples) // FRAME_SAMPLES
    if n_frames == 0:
        return power(samples)
    frames = samples[: n_frames * FRAME_SAMPLES].astype(np.float64).reshape(n_frames, FRAME_SAMPLES)
    frame_power = np.mean(frames**2, axis=1)
    loud = float(np.percentile(frame_power, 99))
    if loud <= 0.0:
        return 0.0
    active = frame_power >= loud * 10.0 ** (-ACTIVE_RANGE_DB / 10.0)
    return float(np.mean(frame_power[active]))


def crossfade_concat(pieces: list[Float32Array], crossfade_samples: int) -> Float32Array:
    """Join pieces with equal-power (sin/cos) crossfades, which keep uncorrelated noise level steady."""
    if not pieces:
        return np.zeros(0, dtype=np.float32)
    out = pieces[0].astype(np.float32)
    for piece in pieces[1:]:
        n = min(crossfade_samples, len(out), len(piece))
        if n == 0:
            out = np.concatenate([out, piece.astype(np.float32)])
            continue
        phase = np.linspace(0.0, np.pi / 2, n, dtype=np.float64)
        seam = out[-n:] * np.cos(phase) + piece[:n] * np.sin(phase)
        out = np.concatenate([out[:-n], seam.astype(np.float32), piece[n:].astype(np.float32)])
    return out


def noise_bed(
    sources: list[Float32Array],
    length_samples: int,
    rng: np.random.Generator,
    crossfade_samples: int = int(CROSSFADE_SECONDS * SAMPLE_RATE),
) -> Float32Array:
    """``length_samples`` of noise: seeded picks of ``sources``, each from a seeded offset, crossfaded.

    With one source this loops it; the first piece starts at a random offset, so two
    conditions do not hear the same stretch of noise at the same moment.
    """
    if length_samples <= 0:
        return np.zeros(0, dtype=np.float32)
    usable = [s for s in sources if len(s) > 2 * crossfade_samples]
    if not usable:
        raise ValueError("noise sources are too short to loop")
    pieces: list[Float32Array] = []
    total = 0
    while total < length_samples + crossfade_samples:
        source = usable[int(rng.integers(len(usable)))]
        # Never start so close to the end that the piece is mostly seam.
        offset = int(rng.integers(0, max(1, len(source) - 4 * crossfade_samples)))
        piece = source[offset:]
        pieces.append(piece)
        total += len(piece) - crossfade_samples
    return crossfade_concat(pieces, crossfade_samples)[:length_samples]


def scale_to_dbfs(samples: Float32Array, target_dbfs: float, *, active: bool = False) -> Float32Array:
    """Scale so that the (active-speech, if ``active``) power is ``target_dbfs``."""
    current = active_speech_power(samples) if active else power(samples)
    if current <= 0.0:
        return samples.astype(np.float32)
    gain = float(np.sqrt(10.0 ** (target_dbfs / 10.0) / current))
    return as_float32(samples * gain)


def prevent_clipping(samples: Float32Array, peak: float = 0.99) -> Float32Array:
    """Scale the whole signal down if any sample would clip; ratios between its parts are kept."""
    top = float(np.max(np.abs(samples))) if len(samples) else 0.0
    return (samples * (peak / top)).astype(np.float32) if top > peak else samples.astype(np.float32)


def noise_gain(speech: Float32Array, noise: Float32Array, snr_db: float) -> float:
    """The gain that puts ``noise`` ``snr_db`` below the active speech power of ``speech``."""
    p_noise = power(noise)
    if p_noise <= 0.0:
        raise ValueError("noise is silent; cannot mix at an SNR")
    return float(np.sqrt(active_speech_power(speech) / (p_noise * 10.0 ** (snr_db / 10.0))))


def mix_at_snr(
    speech: Float32Array, noise: Float32Array, snr_db: float, rng: np.random.Generator
) -> tuple[Float32Array, Float32Array]:
    """Speech plus noise (looped/cropped from a seeded offset) at ``snr_db``; returns (mix, scaled noise).

    The scaled noise is returned so callers and tests can measure the SNR that was made.
    Both are scaled together if the mix would clip.
    """
    bed = noise_bed([noise], len(speech), rng)
    scaled = (bed * noise_gain(speech, bed, snr_db)).astype(np.float32)
    mix = speech.astype(np.float32) + scaled
    top = float(np.max(np.abs(mix))) if len(mix) else 0.0
    if top > 0.99:
        factor = 0.99 / top
        return (mix * factor).astype(np.float32), (scaled * factor).astype(np.float32)
    return mix, scaled


def measured_snr_db(speech: Float32Array, noise: Float32Array) -> float:
    """SNR by this module's definition: active speech power over mean noise power, in dB."""
    return 10.0 * float(np.log10(active_speech_power(speech) / max(power(noise), 1e-20)))
