"""Raw PCM in, 16 kHz mono chunks out: the PCM limits and the decoder.

The one definition of what raw PCM livetrans accepts (sample formats, rates,
channel counts), used by stdin input, the WebSocket ingest protocol and the
server's ingest; and the resampling and re-chunking that files and stream URLs
share with it.
"""

from __future__ import annotations

import logging
from typing import Literal, get_args

import av
import numpy as np

from livetrans.errors import InputError
from livetrans.types import SAMPLE_RATE, AudioChunk, Float32Array

log = logging.getLogger(__name__)

PcmFormat = Literal["s16le", "f32le"]  # interleaved little-endian int16 or float32
PCM_FORMATS: tuple[PcmFormat, ...] = get_args(PcmFormat)
# Rates from narrow-band telephony to studio audio; channels up to 7.1 surround.
MIN_PCM_RATE = 8_000  # Hz
MAX_PCM_RATE = 192_000  # Hz
MAX_PCM_CHANNELS = 8
_PCM_DTYPES: dict[str, np.dtype[np.generic]] = {
    "s16le": np.dtype("<i2"),
    "f32le": np.dtype("<f4"),
}


class Rechunker:
    """Cuts a run of 16 kHz arrays into chunks of ``chunk_samples`` (None: as they come)."""

    def __init__(self, chunk_samples: int | None) -> None:
        self._chunk_samples = chunk_samples
        self._pending: list[Float32Array] = []
        self._pending_samples = 0
        self.samples_out = 0
        self.first_pts: float | None = None  # s, the container's time of the first sample

    def push(self, samples: Float32Array) -> list[AudioChunk]:
        if len(samples) == 0:
            return []
        if self._chunk_samples is None:
            return [self._emit(samples)]
        self._pending.append(samples)
        self._pending_samples += len(samples)
        if self._pending_samples < self._chunk_samples:
            return []
        joined = np.concatenate(self._pending)
        cut = len(joined) - len(joined) % self._chunk_samples
        chunks = [
            self._emit(joined[i : i + self._chunk_samples])
            for i in range(0, cut, self._chunk_samples)
        ]
        rest = joined[cut:]
        self._pending = [rest] if len(rest) else []
        self._pending_samples = len(rest)
        return chunks

    def flush(self) -> list[AudioChunk]:
        if not self._pending_samples:
            return []
        joined = np.concatenate(self._pending)
        self._pending, self._pending_samples = [], 0
        return [self._emit(joined)]

    def _emit(self, samples: Float32Array) -> AudioChunk:
        start = self.samples_out / SAMPLE_RATE
        chunk = AudioChunk(
            samples=np.ascontiguousarray(samples, dtype=np.float32),
            start=start,
            pts=None if self.first_pts is None else round(self.first_pts + start, 6),
        )
        self.samples_out += len(samples)
        return chunk


class MonoResampler:
    """av.AudioResampler to 16 kHz mono flt that survives input format changes.

    PyAV's resampler fixes its input setup on the first frame and passes later
    frames through unchanged when that first frame needed no conversion, so a
    stream that changes rate or layout midway needs a fresh one (flushed first).
    """

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None
        self._setup: tuple[str, str, int] | None = None

    def push(self, frame: av.AudioFrame) -> list[Float32Array]:
        setup = (frame.format.name, frame.layout.name, frame.sample_rate)
        out: list[Float32Array] = []
        if setup != self._setup:
            out = self.flush()
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            self._setup = setup
        frame.pts = None  # we count samples; pts gaps would make the resampler pad
        assert self._resampler is not None
        out.extend(_frame_samples(f) for f in self._resampler.resample(frame))
        return out

    def flush(self) -> list[Float32Array]:
        if self._resampler is None:
            return []
        out = [_frame_samples(f) for f in self._resampler.resample(None)]
        self._resampler, self._setup = None, None
        return out


def _frame_samples(frame: av.AudioFrame) -> Float32Array:
    array: Float32Array = frame.to_ndarray()[0].astype(np.float32, copy=False)
    return array


class PcmDecoder:
    """Raw interleaved PCM frames at any rate and channel count -> 16 kHz mono chunks.

    ``push`` accepts bytes split anywhere (a partial frame waits for the next push).
    Channels are averaged, then av.AudioResampler converts the rate. With
    ``chunk_seconds`` None each push yields what is ready as one chunk (lowest
    latency); otherwise chunks are exactly ``chunk_seconds`` long except the last.
    """

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        sample_format: PcmFormat = "s16le",
        *,
        chunk_seconds: float | None = None,
    ) -> None:
        check_pcm_format(sample_rate, channels, sample_format)
        self.sample_rate = sample_rate
        self.channels = channels
        self.sample_format: PcmFormat = sample_format
        self._dtype = _PCM_DTYPES[sample_format]
        self.frame_bytes = self._dtype.itemsize * channels  # one sample of every channel
        self._partial = b""
        self._resampler = MonoResampler() if sample_rate != SAMPLE_RATE else None
        self._chunks = Rechunker(None if chunk_seconds is None else chunk_samples(chunk_seconds))

    def push(self, data: bytes) -> list[AudioChunk]:
        data = self._partial + bytes(data)
        whole = len(data) - len(data) % self.frame_bytes
        self._partial = data[whole:]
        if not whole:
            return []
        interleaved = np.frombuffer(data[:whole], dtype=self._dtype)
        mono = interleaved.reshape(-1, self.channels).astype(np.float32)
        if self.sample_format == "s16le":
            mono /= 32768.0
        else:  # a client's float stream may hold NaN/inf, which would poison the model
            np.nan_to_num(mono, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
        mono = mono.mean(axis=1, dtype=np.float32) if self.channels > 1 else mono[:, 0]
        if self._resampler is None:
            return self._chunks.push(mono)
        frame = av.AudioFrame.from_ndarray(mono[np.newaxis, :], format="flt", layout="mono")
        frame.sample_rate = self.sample_rate
        joined = join_samples(self._resampler.push(frame))
        return self._chunks.push(joined)

    def flush(self) -> list[AudioChunk]:
        """End of stream: a trailing partial frame is dropped (logged), buffers emptied."""
        if self._partial:
            log.warning("dropping %d bytes of an incomplete PCM frame", len(self._partial))
            self._partial = b""
        chunks: list[AudioChunk] = []
        if self._resampler is not None:
            chunks = self._chunks.push(join_samples(self._resampler.flush()))
        return chunks + self._chunks.flush()


def check_pcm_format(rate: int, channels: int, sample_format: str) -> None:
    """InputError unless ``rate``, ``channels`` and ``sample_format`` are within the limits."""
    formats = ", ".join(PCM_FORMATS)
    if not isinstance(rate, int) or not MIN_PCM_RATE <= rate <= MAX_PCM_RATE:
        raise InputError(
            f"bad PCM sample rate {rate!r}: give {MIN_PCM_RATE} to {MAX_PCM_RATE} Hz"
        )
    if not isinstance(channels, int) or not 1 <= channels <= MAX_PCM_CHANNELS:
        raise InputError(f"bad PCM channel count {channels!r}: give 1 to {MAX_PCM_CHANNELS}")
    if sample_format not in _PCM_DTYPES:
        raise InputError(f"bad PCM sample format {sample_format!r}: use one of {formats}")


def join_samples(arrays: list[Float32Array]) -> Float32Array:
    if not arrays:
        return np.zeros(0, dtype=np.float32)
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def chunk_samples(chunk_seconds: float) -> int:
    if not chunk_seconds > 0:
        raise InputError(f"bad chunk length {chunk_seconds!r} s: give a positive number of seconds")
    return max(1, round(chunk_seconds * SAMPLE_RATE))
