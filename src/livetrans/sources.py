"""Audio in: files, live stream URLs, raw PCM on stdin or in frames.

Everything becomes mono float32 ``AudioChunk``s at ``SAMPLE_RATE`` whose ``start``
counts samples from the first one (container timestamps are not trusted: live
streams start at arbitrary pts and drift).

- ``load_audio(spec)``: a whole file as one array.
- ``iter_audio_chunks(spec)``: blocking, incremental decode of a file, URL or ``-``.
- ``audio_source(spec, live=...)``: the same as an async iterator, decoded in a
  thread; ``live=True`` paces a file at real time so it behaves like a broadcast.
- ``PcmDecoder``: raw interleaved s16le/f32le frames at any rate and channel count
  (the WebSocket ingest path).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
import threading
from collections.abc import AsyncIterator, Callable, Generator
from pathlib import Path
from typing import BinaryIO, Literal, get_args

import av
import av.error
import numpy as np

from livetrans.errors import InputError
from livetrans.types import SAMPLE_RATE, AudioChunk, Float32Array

log = logging.getLogger(__name__)

PcmFormat = Literal["s16le", "f32le"]
STDIN_SPEC = "-"
URL_OPEN_TIMEOUT = 5.0  # s, to connect to a stream URL and read its header
# s without data before a live stream counts as stopped; HLS segments can be 10 s
# long, so its demuxer may legitimately wait about that long for the next one
URL_READ_TIMEOUT = 20.0
MAX_PCM_RATE = 384_000  # Hz
MAX_PCM_CHANNELS = 64
_PCM_DTYPES: dict[str, np.dtype[np.generic]] = {
    "s16le": np.dtype("<i2"),
    "f32le": np.dtype("<f4"),
}
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_stream_url(spec: str | Path) -> bool:
    """True for ``scheme://...`` specs (rtmp, http(s), hls, srt, udp, ...)."""
    return isinstance(spec, str) and _URL_RE.match(spec) is not None


def check_input(spec: str) -> None:
    """Fail before any model loads when a file input is plainly missing."""
    if spec == STDIN_SPEC or is_stream_url(spec):
        return
    path = Path(spec)
    if not path.exists():
        raise InputError(f"no such file: {spec}")
    if not path.is_file():
        raise InputError(f"not a file: {spec}")


class _Rechunker:
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


class _MonoResampler:
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
        _check_pcm(sample_rate, channels, sample_format)
        self.sample_rate = sample_rate
        self.channels = channels
        self.sample_format: PcmFormat = sample_format
        self._dtype = _PCM_DTYPES[sample_format]
        self.frame_bytes = self._dtype.itemsize * channels  # one sample of every channel
        self._partial = b""
        self._resampler = _MonoResampler() if sample_rate != SAMPLE_RATE else None
        self._chunks = _Rechunker(None if chunk_seconds is None else _chunk_samples(chunk_seconds))

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
        joined = _join(self._resampler.push(frame))
        return self._chunks.push(joined)

    def flush(self) -> list[AudioChunk]:
        """End of stream: a trailing partial frame is dropped (logged), buffers emptied."""
        if self._partial:
            log.warning("dropping %d bytes of an incomplete PCM frame", len(self._partial))
            self._partial = b""
        chunks: list[AudioChunk] = []
        if self._resampler is not None:
            chunks = self._chunks.push(_join(self._resampler.flush()))
        return chunks + self._chunks.flush()


def _check_pcm(rate: int, channels: int, sample_format: str) -> None:
    formats = ", ".join(get_args(PcmFormat))
    if not isinstance(rate, int) or not 1_000 <= rate <= MAX_PCM_RATE:
        raise InputError(f"bad PCM sample rate {rate!r}: give 1000 to {MAX_PCM_RATE} Hz")
    if not isinstance(channels, int) or not 1 <= channels <= MAX_PCM_CHANNELS:
        raise InputError(f"bad PCM channel count {channels!r}: give 1 to {MAX_PCM_CHANNELS}")
    if sample_format not in _PCM_DTYPES:
        raise InputError(f"bad PCM sample format {sample_format!r}: use one of {formats}")


def _join(arrays: list[Float32Array]) -> Float32Array:
    if not arrays:
        return np.zeros(0, dtype=np.float32)
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _chunk_samples(chunk_seconds: float) -> int:
    if not chunk_seconds > 0:
        raise InputError(f"bad chunk length {chunk_seconds!r} s: give a positive number of seconds")
    return max(1, round(chunk_seconds * SAMPLE_RATE))


def _waits_for_sender(url: str) -> bool:
    """Listen-mode URLs (udp/rtp input, ?listen=1, mode=listener) wait for a sender to start."""
    scheme, _, rest = url.partition("://")
    query = rest.partition("?")[2].lower()
    return scheme.lower() in {"udp", "rtp"} or "listen=1" in query or "mode=listener" in query


def _open_container(spec: str) -> av.container.InputContainer:
    if is_stream_url(spec):
        scheme = spec.split("://", 1)[0].lower()
        listening = _waits_for_sender(spec)
        options = {} if listening else {"rw_timeout": str(int(URL_READ_TIMEOUT * 1_000_000))}
        try:
            return av.open(
                spec,
                options=options,  # rw_timeout in microseconds
                timeout=(None if listening else URL_OPEN_TIMEOUT, URL_READ_TIMEOUT),
            )
        except av.error.ProtocolNotFoundError as e:
            raise InputError(
                f"cannot open stream URL: {spec}: this FFmpeg build has no {scheme}:// support"
            ) from e
        except av.error.ExitError as e:  # our open timeout interrupted FFmpeg
            raise InputError(
                f"cannot open stream URL: {spec}: no answer within {URL_OPEN_TIMEOUT:g} s"
                " (check the address / network)"
            ) from e
        except (av.error.FFmpegError, OSError) as e:
            reason = getattr(e, "strerror", None) or str(e)
            raise InputError(
                f"cannot open stream URL: {spec}: {reason} (check the address / network)"
            ) from e
    path = Path(spec).expanduser()
    if not path.exists():
        raise InputError(f"no such file: {spec}")
    if path.is_dir():
        raise InputError(f"{spec} is a directory, not an audio file: give a file path")
    if path.stat().st_size == 0:
        raise InputError(f"{spec} holds no audio (the file is empty)")
    try:
        return av.open(str(path))
    except (av.error.PermissionError, PermissionError) as e:
        raise InputError(f"cannot read {spec}: permission denied") from e
    except (av.error.FFmpegError, OSError) as e:
        raise InputError(f"cannot decode {spec}: not an audio file or unsupported format") from e


def _decode_container(spec: str, chunker: _Rechunker) -> Generator[AudioChunk, None, None]:
    url = is_stream_url(spec)
    with _open_container(spec) as container:
        if not container.streams.audio:
            raise InputError(f"{spec} has no audio stream: give a file or stream with sound")
        stream = container.streams.audio[0]
        resampler = _MonoResampler()
        bad_packets = 0
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError as e:
                    bad_packets += 1
                    log.warning("skipping undecodable audio in %s: %s", spec, e)
                    continue
                for frame in frames:
                    if chunker.first_pts is None and frame.time is not None:
                        chunker.first_pts = float(frame.time)  # HLS lines subtitles up by it
                    for samples in resampler.push(frame):
                        yield from chunker.push(samples)
        except av.error.ExitError as e:
            raise InputError(
                f"stream URL {spec} sent no data for {URL_READ_TIMEOUT:g} s (check the source)"
            ) from e
        except av.error.FFmpegError as e:
            what = "stream URL" if url else "file"
            raise InputError(f"cannot decode {what} {spec}: {e.strerror or e}") from e
        for samples in resampler.flush():
            yield from chunker.push(samples)
        if chunker.samples_out == 0 and bad_packets:
            raise InputError(f"cannot decode {spec}: the audio data is corrupt")


def _iter_chunks(
    spec: str,
    chunk_samples: int | None,
    pcm_rate: int,
    pcm_channels: int,
    pcm_format: PcmFormat,
    stdin: BinaryIO | None,
) -> Generator[AudioChunk, None, None]:
    chunker = _Rechunker(chunk_samples)
    if spec == STDIN_SPEC:
        decoder = PcmDecoder(pcm_rate, pcm_channels, pcm_format)
        source = stdin if stdin is not None else sys.stdin.buffer
        read = getattr(source, "read1", source.read)  # read1: return what a pipe has
        read_bytes = decoder.frame_bytes * max(1, pcm_rate // 20)  # 50 ms of input
        while data := read(read_bytes):
            for chunk in decoder.push(data):
                yield from chunker.push(chunk.samples)
        for chunk in decoder.flush():
            yield from chunker.push(chunk.samples)
    else:
        yield from _decode_container(spec, chunker)
    yield from chunker.flush()
    if chunker.samples_out == 0:
        raise InputError(f"{'stdin' if spec == STDIN_SPEC else spec} holds no audio")


def iter_audio_chunks(
    spec: str | Path,
    *,
    chunk_seconds: float = 0.1,
    pcm_rate: int = SAMPLE_RATE,
    pcm_channels: int = 1,
    pcm_format: PcmFormat = "s16le",
    stdin: BinaryIO | None = None,
) -> Generator[AudioChunk, None, None]:
    """Decode a file path, stream URL or ``-`` (raw PCM on stdin) incrementally.

    Blocking. Chunks are ``chunk_seconds`` long (the last may be shorter); their
    ``start`` counts samples from the first. ``pcm_*`` describe stdin's raw PCM;
    ``stdin`` replaces ``sys.stdin.buffer``. Raises InputError for input that cannot
    be opened or decoded, or that holds no audio.
    """
    return _iter_chunks(
        str(spec), _chunk_samples(chunk_seconds), pcm_rate, pcm_channels, pcm_format, stdin
    )


def load_audio(
    spec: str | Path,
    *,
    pcm_rate: int = SAMPLE_RATE,
    pcm_channels: int = 1,
    pcm_format: PcmFormat = "s16le",
    stdin: BinaryIO | None = None,
) -> Float32Array:
    """Decode a whole file (or URL, or ``-``) to one 16 kHz mono float32 array."""
    chunks = _iter_chunks(str(spec), None, pcm_rate, pcm_channels, pcm_format, stdin)
    return _join([chunk.samples for chunk in chunks])


class _ChunkPump:
    """Runs a blocking chunk iterator in a daemon thread, feeding the event loop.

    At most ``max_buffered`` chunks wait for the consumer; ``stop()`` makes the
    thread close the iterator (and its container) and end within ~0.1 s unless it
    is blocked in a read (a live URL read ends within URL_READ_TIMEOUT).
    """

    _POLL = 0.1  # s, how often a producer blocked on a full buffer checks stop

    def __init__(
        self, make_chunks: Callable[[], Generator[AudioChunk, None, None]], max_buffered: int
    ) -> None:
        self._make_chunks = make_chunks
        self._slots = threading.Semaphore(max_buffered)
        self._stop = threading.Event()
        self._queue: asyncio.Queue[AudioChunk | Exception | None] = asyncio.Queue()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.thread = threading.Thread(
            target=self._run, args=(loop,), name="livetrans-audio-source", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    async def get(self) -> AudioChunk | None:
        """The next chunk, None at the end; re-raises the decoder's error."""
        item = await self._queue.get()
        if isinstance(item, Exception):
            raise item
        if item is not None:
            self._slots.release()
        return item

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            with contextlib.closing(self._make_chunks()) as chunks:
                for chunk in chunks:
                    while not self._slots.acquire(timeout=self._POLL):
                        if self._stop.is_set() or loop.is_closed():
                            return
                    if self._stop.is_set():
                        return
                    self._post(loop, chunk)
            self._post(loop, None)
        except Exception as e:  # forwarded to the consumer, which re-raises it
            self._post(loop, e)

    def _post(self, loop: asyncio.AbstractEventLoop, item: AudioChunk | Exception | None) -> None:
        try:
            loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop closed: nobody is listening any more
            self._stop.set()


async def audio_source(
    spec: str | Path,
    *,
    live: bool,
    chunk_seconds: float = 0.1,
    pcm_rate: int = SAMPLE_RATE,
    pcm_channels: int = 1,
    pcm_format: PcmFormat = "s16le",
    stdin: BinaryIO | None = None,
    max_buffered_chunks: int = 64,
) -> AsyncIterator[AudioChunk]:
    """Chunks of a file, stream URL or ``-`` as an async iterator, decoded in a thread.

    ``live=True`` paces a file at real time: chunk k is released no earlier than
    t0 + chunk.start, t0 being when the first chunk was released. Stream URLs and
    stdin arrive at their own pace and are never paced. Stopping iteration (break,
    cancellation, aclose) stops the decoding thread.
    """
    spec = str(spec)
    _chunk_samples(chunk_seconds)
    paced = live and not is_stream_url(spec) and spec != STDIN_SPEC
    pump = _ChunkPump(
        lambda: iter_audio_chunks(
            spec,
            chunk_seconds=chunk_seconds,
            pcm_rate=pcm_rate,
            pcm_channels=pcm_channels,
            pcm_format=pcm_format,
            stdin=stdin,
        ),
        max(1, max_buffered_chunks),
    )
    pump.start()
    loop = asyncio.get_running_loop()
    t0: float | None = None
    try:
        while (chunk := await pump.get()) is not None:
            if paced:
                if t0 is None:
                    t0 = loop.time() - chunk.start
                delay = t0 + chunk.start - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield chunk
    finally:
        pump.stop()
