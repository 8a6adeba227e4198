"""Silero VAD, run as a streaming, stateful model: the only onnxruntime import.

faster-whisper ships the Silero VAD v6 ONNX file; its own wrapper scores a whole
file at once. Here the LSTM state and the 64-sample context are carried from call
to call, so a live stream is scored frame by frame as it arrives, with the same
model and the same framing as faster-whisper's offline VAD.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..types import VAD_FRAME_SAMPLES, Float32Array

CONTEXT_SAMPLES = 64  # samples of the previous frame the model sees


def silero_model_path() -> Path:
    from faster_whisper.utils import get_assets_path

    path = Path(get_assets_path()) / "silero_vad_v6.onnx"
    if not path.is_file():
        raise ModelError(
            f"Silero VAD model not found at {path}: reinstall faster-whisper (pip install faster-whisper==1.2.1)"
        )
    return path


class SileroSession:
    """The loaded ONNX model; one per process, shared by streams (state lives in SileroStream)."""

    def __init__(self, path: Path | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            str(path or silero_model_path()),
            providers=["CPUExecutionProvider"],
            sess_options=options,
        )

    def run(self, frames: Float32Array, h: Any, c: Any) -> tuple[Float32Array, Any, Any]:
        output, h, c = self._session.run(None, {"input": frames, "h": h, "c": c})
        return np.asarray(output, dtype=np.float32).reshape(-1), h, c

    def stream(self) -> SileroStream:
        return SileroStream(self)


class SileroStream:
    """Speech probabilities for one stream, one per 512-sample frame, in order."""

    def __init__(self, session: SileroSession) -> None:
        self._session = session
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def push(self, samples: Float32Array) -> Float32Array:
        """Probabilities for every frame completed by ``samples`` (may be empty)."""
        self._pending = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        n_frames = len(self._pending) // VAD_FRAME_SAMPLES
        if n_frames == 0:
            return np.zeros(0, dtype=np.float32)
        frames = self._pending[: n_frames * VAD_FRAME_SAMPLES].reshape(n_frames, VAD_FRAME_SAMPLES)
        self._pending = self._pending[n_frames * VAD_FRAME_SAMPLES :]
        contexts = np.concatenate([self._context[None, :], frames[:-1, -CONTEXT_SAMPLES:]])
        self._context = frames[-1, -CONTEXT_SAMPLES:].copy()
        batch = np.concatenate([contexts, frames], axis=1)
        probabilities, self._h, self._c = self._session.run(batch, self._h, self._c)
        return probabilities
