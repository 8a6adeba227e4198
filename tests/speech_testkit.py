"""Helpers for the tests that use the bundled recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from livetrans.sources import load_audio

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def padded(clip_path: Path, before: float = 0.5, after: float = 1.0) -> np.ndarray:
    """A clip with silence around it, as it would sit in a stream."""
    audio = load_audio(clip_path)
    return np.concatenate(
        [np.zeros(int(before * 16000), np.float32), audio, np.zeros(int(after * 16000), np.float32)]
    )
