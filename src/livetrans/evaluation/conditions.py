"""The evaluation conditions: clean clips, clips in noise, synthetic voices, non-speech, a long stream.

Everything here is deterministic: a condition's audio depends only on the sample
files, the suite seed and the condition's name (each condition seeds its own
generator from ``seed`` and a CRC32 of its name, so selecting a subset does not
change what any one condition sounds like).

Mixing at a signal-to-noise ratio is defined in ``livetrans.evaluation.mixing``
(active speech power over noise power).

Two sets of recordings (the ``set`` column of samples/MANIFEST.tsv): the *tuning* set,
which defaults were chosen on, and the *held-out* set, which nobody tunes on. A
held-out condition mixes held-out speech with held-out noise only. Tuning
conditions keep the names (hence the audio) they had before the sets existed;
non-clip conditions of the held-out set are named under ``heldout/``.

Pure functions (mixing, looping, levels) take arrays and a ``numpy.random.Generator``;
``ConditionLibrary`` is the thin shell that reads the sample files.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from livetrans.evaluation.mixing import (
    as_float32,
    condition_rng,
    mix_at_snr,
    noise_bed,
    prevent_clipping,
    scale_to_dbfs,
)
from livetrans.evaluation.voices import Voice, synthesize
from livetrans.types import SAMPLE_RATE, Float32Array

logger = logging.getLogger(__name__)

SNRS_DB: tuple[float, ...] = (20.0, 10.0, 5.0, 0.0)
BACKGROUND_DBFS = -23.0  # level of noise/music beds and of speech in the long stream
SILENCE_DBFS = -60.0  # the "silence" condition is a faint noise floor, as in a quiet room

ConditionKind = Literal["clean", "noise", "synthetic", "nonspeech", "long"]
SampleSet = Literal["tuning", "heldout"]
SAMPLE_SETS: tuple[SampleSet, ...] = ("tuning", "heldout")

# Noise files are named by their source; this maps them to what they sound like.
# Types are unique across the two sets, so a noise condition's name says its set.
NOISE_TYPES: dict[str, str] = {
    "party_crowd": "crowd",
    "audiomentations_perfect_alley": "music",
    "shopping_mall": "mall",
    "restaurant": "restaurant",
    "pyroomacoustics_doing_the_dishes": "kitchen",
    "deepfilternet_noise_freesound": "freesound",
    "soundbible_large_stadium": "stadium",
    "soundbible_crowd_at_carnival": "carnival",
    "sse_city_traffic": "traffic",
    "freesound_small_plane": "plane",
    "unwrittenstories_house_music": "house-music",
}
MUSIC_TYPES = frozenset({"music", "house-music"})  # the beds of the "music alone" condition


def noise_type(path: Path) -> str:
    """What a noise file sounds like ('crowd', 'music', ...), from its file name."""
    for prefix, kind in NOISE_TYPES.items():
        if path.stem.startswith(prefix):
            return kind
    return path.stem


# ---------------------------------------------------------------- what a condition is


@dataclass(frozen=True)
class Clip:
    """One speech recording from samples/MANIFEST.tsv."""

    path: Path
    lang: str
    reference: str
    duration: float
    notes: str = ""
    sample_set: SampleSet = "tuning"

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
    sample_set: SampleSet = "tuning"  # whose speech and noise it is made of


@dataclass(frozen=True, eq=False)
class Condition:
    """A condition with its audio (float32, 16 kHz mono) and, for streams, where each utterance is."""

    spec: ConditionSpec
    audio: Float32Array
    placements: tuple[Placement, ...] = field(default=())

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def _manifest_rows(samples_dir: Path, kind: str, sets: Collection[str]) -> list[dict[str, str]]:
    """The rows of one kind in the given sets (a row without a ``set`` is tuning material)."""
    with (samples_dir / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r for r in rows if r["kind"] == kind and (r.get("set") or "tuning") in sets]


def read_manifest(samples_dir: Path, sets: Collection[str] = ("tuning",)) -> list[Clip]:
    """The speech clips of ``samples_dir/MANIFEST.tsv`` in ``sets`` that have a reference transcript.

    The default is the tuning set alone, so tests and benchmarks never see held-out speech.
    """
    return [
        Clip(
            path=samples_dir / row["path"],
            lang=row["language"],
            reference=row["transcript"],
            duration=float(row["duration_s"] or 0.0),
            notes=row.get("notes", ""),
            sample_set="heldout" if row.get("set") == "heldout" else "tuning",
        )
        for row in _manifest_rows(samples_dir, "speech", sets)
        if row["transcript"]
    ]


def noise_files(samples_dir: Path, sets: Collection[str] = ("tuning",)) -> dict[str, Path]:
    """Noise type → file, for the noise recordings of ``sets`` in ``samples_dir/MANIFEST.tsv``."""
    paths = sorted(samples_dir / row["path"] for row in _manifest_rows(samples_dir, "noise", sets))
    return {noise_type(p): p for p in paths}


def noise_sets(samples_dir: Path) -> dict[str, SampleSet]:
    """Noise type → the set its recording belongs to."""
    heldout = noise_files(samples_dir, ("heldout",))
    return {kind: "heldout" if kind in heldout else "tuning" for kind in noise_files(samples_dir, SAMPLE_SETS)}


def set_prefix(sample_set: SampleSet) -> str:
    """Name prefix of a held-out condition that is not one clip (tuning names stay as they were)."""
    return "" if sample_set == "tuning" else f"{sample_set}/"




# ---------------------------------------------------------------- listing conditions


def speech_specs(
    clips: list[Clip], noises: list[str], snrs: tuple[float, ...] = SNRS_DB
) -> list[ConditionSpec]:
    """Each clip clean, then mixed with each noise type at each SNR."""
    specs: list[ConditionSpec] = []
    for clip in clips:
        specs.append(
            ConditionSpec(
                f"clean/{clip.lang}/{clip.key}", "clean", clip.lang, clip.reference, clip.key,
                sample_set=clip.sample_set,
            )
        )  # fmt: skip
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
                        sample_set=clip.sample_set,
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
                    sample_set=clip.sample_set,
                )
            )
    return specs


NONSPEECH_KINDS = ("noise", "music", "silence")


def nonspeech_specs(seconds: float, sample_set: SampleSet = "tuning") -> list[ConditionSpec]:
    """Noise alone, music alone and silence, made of the recordings of ``sample_set``."""
    prefix = set_prefix(sample_set)
    return [
        ConditionSpec(f"{prefix}nonspeech/{kind}", "nonspeech", "none", seconds=seconds, sample_set=sample_set)
        for kind in NONSPEECH_KINDS
    ]


def long_spec(minutes: float, snr_db: float = 15.0, sample_set: SampleSet = "tuning") -> ConditionSpec:
    """The long stream of ``sample_set``: its speech over a bed of its noises."""
    return ConditionSpec(
        f"{set_prefix(sample_set)}long/stream", "long", "multi", seconds=minutes * 60.0, snr_db=snr_db,
        sample_set=sample_set,
    )  # fmt: skip


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
        return as_float32(rng.standard_normal(length) * 10.0 ** (SILENCE_DBFS / 20.0))
    if kind == "music":
        sources = [v for k, v in beds.items() if k in MUSIC_TYPES]
    elif kind == "noise":
        sources = [v for k, v in beds.items() if k not in MUSIC_TYPES]
    else:
        raise ValueError(f"unknown non-speech kind {kind!r}; expected one of {NONSPEECH_KINDS}")
    if not sources:
        raise ValueError(f"no {kind} recordings in samples/noise")
    levelled = [scale_to_dbfs(s, BACKGROUND_DBFS) for s in sources]
    return prevent_clipping(scale_to_dbfs(noise_bed(levelled, length, rng), BACKGROUND_DBFS))


# ---------------------------------------------------------------- the shell that reads files


class ConditionLibrary:
    """Reads the sample files once and renders any ConditionSpec into a Condition.

    ``clips`` and ``noise_paths`` hold the recordings of ``sets`` (both sets by default).
    """

    def __init__(self, samples_dir: Path, seed: int = 0, sets: Collection[SampleSet] = SAMPLE_SETS) -> None:
        self.samples_dir = samples_dir
        self.seed = seed
        self.sets = tuple(s for s in SAMPLE_SETS if s in sets)
        self.clips = read_manifest(samples_dir, self.sets)
        self.noise_paths = noise_files(samples_dir, self.sets)
        self.noise_set = noise_sets(samples_dir)
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

    def noises(self, sample_set: SampleSet = "tuning") -> dict[str, Float32Array]:
        """Noise type → audio, for the noises of one set."""
        return {
            kind: self.load(path) for kind, path in self.noise_paths.items() if self.noise_set[kind] == sample_set
        }

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
            beds = self.noises(spec.sample_set)
            return Condition(spec, nonspeech_audio(spec.name.rsplit("/", 1)[-1], beds, spec.seconds, rng))
        if spec.kind == "long":
            utterances = [(clip, self.load(clip.path)) for clip in self.clips if clip.sample_set == spec.sample_set]
            audio, placements = assemble_stream(
                utterances, list(self.noises(spec.sample_set).values()), spec.seconds, spec.snr_db or 15.0, rng
            )
            return Condition(spec, audio, placements)
        raise ValueError(f"unknown condition kind {spec.kind!r}")
