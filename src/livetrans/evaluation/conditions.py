"""The evaluation conditions: clean clips, clips in noise, synthetic voices, non-speech, a long stream.

Everything here is deterministic: a condition's audio depends only on the sample
files, the suite seed and the condition's name (each condition seeds its own
generator from ``seed`` and a CRC32 of its name, so selecting a subset does not
change what any one condition sounds like).

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

Pure functions (mixing, looping, levels) take arrays and a ``numpy.random.Generator``;
``ConditionLibrary`` is the thin shell that reads the sample files.
"""

from __future__ import annotations

import csv
import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from livetrans.evaluation.voices import Voice, synthesize
from livetrans.types import SAMPLE_RATE, Float32Array

logger = logging.getLogger(__name__)

FRAME_SAMPLES = 320  # 20 ms at SAMPLE_RATE, the frame for active-speech power
ACTIVE_RANGE_DB = 30.0  # frames this far below the loud frames still count as speech
CROSSFADE_SECONDS = 0.05  # seam between looped or concatenated noise pieces
SNRS_DB: tuple[float, ...] = (20.0, 10.0, 5.0, 0.0)
BACKGROUND_DBFS = -23.0  # level of noise/music beds and of speech in the long stream
SILENCE_DBFS = -60.0  # the "silence" condition is a faint noise floor, as in a quiet room

ConditionKind = Literal["clean", "noise", "synthetic", "nonspeech", "long"]

# Noise files are named by their source; this maps them to what they sound like.
NOISE_TYPES: dict[str, str] = {
    "party_crowd": "crowd",
    "audiomentations_perfect_alley": "music",
    "shopping_mall": "mall",
    "restaurant": "restaurant",
    "pyroomacoustics_doing_the_dishes": "kitchen",
    "deepfilternet_noise_freesound": "freesound",
}


def noise_type(path: Path) -> str:
    """What a noise file sounds like ('crowd', 'music', ...), from its file name."""
    for prefix, kind in NOISE_TYPES.items():
        if path.stem.startswith(prefix):
            return kind
    return path.stem


# ---------------------------------------------------------------- pure audio functions


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
    gain = np.sqrt(10.0 ** (target_dbfs / 10.0) / current)
    return (samples * gain).astype(np.float32)


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


# ---------------------------------------------------------------- what a condition is


@dataclass(frozen=True)
class Clip:
    """One speech recording from samples/MANIFEST.tsv."""

    path: Path
    lang: str
    reference: str
    duration: float
    notes: str = ""

    @property
    def key(self) -> str:
        return self.path.stem


@dataclass(frozen=True)
class Placement:
    """Where one utterance sits in an assembled stream (times in stream seconds)."""

    start: float
    end: float
    lang: str
    reference: str
    source: str


@dataclass(frozen=True)
class ConditionSpec:
    """A condition before its audio is made: cheap to list, filter and serialise.

    ``name`` is a '/'-separated path (``noise/crowd/10dB/en/jfk_inaugural_1961``) that
    also seeds the condition's generator. ``lang`` is ``"none"`` for non-speech.
    """

    name: str
    kind: ConditionKind
    lang: str
    reference: str = ""
    clip: str = ""  # Clip.key of the speech clip, if any
    noise: str = ""  # noise type, if any
    snr_db: float | None = None
    voice: str = ""  # engine:voice for synthetic speech
    seconds: float = 0.0  # length, for conditions that are not a clip
    synthetic: bool = False


@dataclass(frozen=True, eq=False)
class Condition:
    """A condition with its audio (float32, 16 kHz mono) and, for streams, where each utterance is."""

    spec: ConditionSpec
    audio: Float32Array
    placements: tuple[Placement, ...] = field(default=())

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def read_manifest(samples_dir: Path) -> list[Clip]:
    """The speech clips of ``samples_dir/MANIFEST.tsv`` that have a reference transcript."""
    manifest = samples_dir / "MANIFEST.tsv"
    clips: list[Clip] = []
    with manifest.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row["kind"] != "speech" or not row["transcript"]:
                continue
            clips.append(
                Clip(
                    path=samples_dir / row["path"],
                    lang=row["language"],
                    reference=row["transcript"],
                    duration=float(row["duration_s"] or 0.0),
                    notes=row.get("notes", ""),
                )
            )
    return clips


def noise_files(samples_dir: Path) -> dict[str, Path]:
    """Noise type → file, for the recordings in ``samples_dir/noise``."""
    return {noise_type(p): p for p in sorted((samples_dir / "noise").glob("*.flac"))}


def as_float32(samples: npt.ArrayLike) -> Float32Array:
    return np.ascontiguousarray(samples, dtype=np.float32)


# ---------------------------------------------------------------- listing conditions


def speech_specs(
    clips: list[Clip], noises: list[str], snrs: tuple[float, ...] = SNRS_DB
) -> list[ConditionSpec]:
    """Each clip clean, then mixed with each noise type at each SNR."""
    specs: list[ConditionSpec] = []
    for clip in clips:
        specs.append(ConditionSpec(f"clean/{clip.lang}/{clip.key}", "clean", clip.lang, clip.reference, clip.key))
    for noise in noises:
        for snr in snrs:
            for clip in clips:
                specs.append(
                    ConditionSpec(
                        f"noise/{noise}/{snr:g}dB/{clip.lang}/{clip.key}",
                        "noise",
                        clip.lang,
                        clip.reference,
                        clip.key,
                        noise=noise,
                        snr_db=snr,
                    )
                )
    return specs


def synthetic_specs(clips: list[Clip], voices: list[Voice]) -> list[ConditionSpec]:
    """Each voice speaking the reference sentence of each clip in its language."""
    specs: list[ConditionSpec] = []
    for voice in voices:
        for clip in clips:
            if clip.lang != voice.lang:
                continue
            specs.append(
                ConditionSpec(
                    f"synthetic/{voice.key}/{clip.lang}/{clip.key}",
                    "synthetic",
                    clip.lang,
                    clip.reference,
                    clip.key,
                    voice=f"{voice.engine}:{voice.name}",
                    synthetic=True,
                )
            )
    return specs


NONSPEECH_KINDS = ("noise", "music", "silence")


def nonspeech_specs(seconds: float) -> list[ConditionSpec]:
    return [ConditionSpec(f"nonspeech/{kind}", "nonspeech", "none", seconds=seconds) for kind in NONSPEECH_KINDS]


def long_spec(minutes: float, snr_db: float = 15.0) -> ConditionSpec:
    return ConditionSpec("long/stream", "long", "multi", seconds=minutes * 60.0, snr_db=snr_db)


# ---------------------------------------------------------------- assembling streams


def assemble_stream(
    utterances: list[tuple[Clip, Float32Array]],
    beds: list[Float32Array],
    seconds: float,
    snr_db: float,
    rng: np.random.Generator,
) -> tuple[Float32Array, tuple[Placement, ...]]:
    """About ``seconds`` of speech blocks with pauses over a continuous noise bed.

    Blocks of 1-3 utterances in one language (languages weighted by how many clips
    they have) follow one another with 0.5-3 s pauses and, now and then (8 %), a
    10-30 s stretch of background alone. Speech is levelled to BACKGROUND_DBFS
    (active power) and the bed sits ``snr_db`` below it.
    """
    by_lang: dict[str, list[tuple[Clip, Float32Array]]] = {}
    for clip, audio in utterances:
        by_lang.setdefault(clip.lang, []).append((clip, audio))
    langs = sorted(by_lang)
    weights = np.array([len(by_lang[lang]) for lang in langs], dtype=np.float64)
    weights /= weights.sum()
    placed: list[tuple[int, Float32Array, Placement]] = []
    cursor = 2.0  # s of background before the first word
    while cursor < seconds:
        lang = langs[int(rng.choice(len(langs), p=weights))]
        pool = by_lang[lang]
        for _ in range(int(rng.integers(1, 4))):
            clip, audio = pool[int(rng.integers(len(pool)))]
            speech = scale_to_dbfs(audio, BACKGROUND_DBFS, active=True)
            start_samples = int(round(cursor * SAMPLE_RATE))
            end = cursor + len(speech) / SAMPLE_RATE
            placed.append((start_samples, speech, Placement(cursor, end, clip.lang, clip.reference, clip.key)))
            cursor = end + float(rng.uniform(0.5, 3.0))
        if rng.random() < 0.08:
            cursor += float(rng.uniform(10.0, 30.0))
    total_samples = int(round((cursor + 2.0) * SAMPLE_RATE))
    levelled = [scale_to_dbfs(b, 0.0) for b in beds]
    bed = noise_bed(levelled, total_samples, rng)
    audio = scale_to_dbfs(bed, BACKGROUND_DBFS - snr_db)
    for start_samples, speech, _ in placed:
        audio[start_samples : start_samples + len(speech)] += speech
    return prevent_clipping(audio), tuple(p for _, _, p in placed)


def nonspeech_audio(
    kind: str, beds: dict[str, Float32Array], seconds: float, rng: np.random.Generator
) -> Float32Array:
    """``seconds`` of noise alone (every non-music noise, crossfaded), music alone, or silence."""
    length = int(round(seconds * SAMPLE_RATE))
    if kind == "silence":
        floor = rng.standard_normal(length) * 10.0 ** (SILENCE_DBFS / 20.0)
        return floor.astype(np.float32)
    if kind == "music":
        sources = [v for k, v in beds.items() if k == "music"]
    elif kind == "noise":
        sources = [v for k, v in beds.items() if k != "music"]
    else:
        raise ValueError(f"unknown non-speech kind {kind!r}; expected one of {NONSPEECH_KINDS}")
    if not sources:
        raise ValueError(f"no {kind} recordings in samples/noise")
    levelled = [scale_to_dbfs(s, BACKGROUND_DBFS) for s in sources]
    return prevent_clipping(scale_to_dbfs(noise_bed(levelled, length, rng), BACKGROUND_DBFS))


# ---------------------------------------------------------------- the shell that reads files


class ConditionLibrary:
    """Reads the sample files once and renders any ConditionSpec into a Condition."""

    def __init__(self, samples_dir: Path, seed: int = 0) -> None:
        self.samples_dir = samples_dir
        self.seed = seed
        self.clips = read_manifest(samples_dir)
        self.noise_paths = noise_files(samples_dir)
        self._audio: dict[Path, Float32Array] = {}

    def load(self, path: Path) -> Float32Array:
        if path not in self._audio:
            from livetrans.sources import load_audio

            self._audio[path] = as_float32(load_audio(str(path)))
        return self._audio[path]

    def clip(self, key: str) -> Clip:
        for clip in self.clips:
            if clip.key == key:
                return clip
        raise KeyError(f"no speech clip {key!r} in {self.samples_dir / 'MANIFEST.tsv'}")

    def noises(self) -> dict[str, Float32Array]:
        return {kind: self.load(path) for kind, path in self.noise_paths.items()}

    def render(self, spec: ConditionSpec) -> Condition:
        rng = condition_rng(self.seed, spec.name)
        if spec.kind == "clean":
            return Condition(spec, self.load(self.clip(spec.clip).path))
        if spec.kind == "noise":
            speech = self.load(self.clip(spec.clip).path)
            noise = self.load(self.noise_paths[spec.noise])
            assert spec.snr_db is not None
            mix, _ = mix_at_snr(speech, noise, spec.snr_db, rng)
            return Condition(spec, mix)
        if spec.kind == "synthetic":
            engine, name = spec.voice.split(":", 1)
            voice = Voice(engine, name, spec.lang, "")  # type: ignore[arg-type]
            return Condition(spec, prevent_clipping(synthesize(voice, spec.reference)))
        if spec.kind == "nonspeech":
            return Condition(spec, nonspeech_audio(spec.name.rsplit("/", 1)[-1], self.noises(), spec.seconds, rng))
        if spec.kind == "long":
            utterances = [(clip, self.load(clip.path)) for clip in self.clips]
            audio, placements = assemble_stream(
                utterances, list(self.noises().values()), spec.seconds, spec.snr_db or 15.0, rng
            )
            return Condition(spec, audio, placements)
        raise ValueError(f"unknown condition kind {spec.kind!r}")
