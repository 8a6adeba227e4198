"""Audio in: files, live stream URLs, raw PCM on stdin or in frames.

Everything becomes mono float32 ``AudioChunk``s at ``SAMPLE_RATE`` whose ``start``
counts samples from the first one (container timestamps are not trusted: live
streams start at arbitrary pts and drift).

- ``load_audio(spec)``: a whole file as one array.
- ``iter_audio_chunks(spec)``: blocking, incremental decode of a file, URL or ``-``.
- ``audio_source(spec, live=...)``: the same as an async iterator, decoded in a
  thread; ``live=True`` paces a file at real time so it behaves like a broadcast.
- ``PcmDecoder`` (``livetrans.pcm``): raw interleaved s16le/f32le frames at any
  rate and channel count (stdin and the WebSocket ingest path).
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
from typing import BinaryIO

import av
import av.error

from livetrans.errors import InputError
from livetrans.pcm import (
    MonoResampler,
    PcmDecoder,
    PcmFormat,
    Rechunker,
    chunk_samples,
    join_samples,
)
from livetrans.types import SAMPLE_RATE, AudioChunk, Float32Array

log = logging.getLogger(__name__)

# Audio in, every way it comes; PcmDecoder and PcmFormat are livetrans.pcm's.
__all__ = [
    "STDIN_SPEC",
    "URL_OPEN_TIMEOUT",
    "URL_READ_TIMEOUT",
    "PcmDecoder",
    "PcmFormat",
    "audio_source",
    "check_input",
    "is_stream_url",
    "iter_audio_chunks",
    "load_audio",
]

STDIN_SPEC = "-"
URL_OPEN_TIMEOUT = 5.0  # s, to connect to a stream URL and read its header
# s without data before a live stream counts as stopped; HLS segments can be 10 s
# long, so its demuxer may legitimately wait about that long for the next one
URL_READ_TIMEOUT = 20.0
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


def _decode_container(spec: str, chunker: Rechunker) -> Generator[AudioChunk, None, None]:
    url = is_stream_url(spec)
    with _open_container(spec) as container:
        if not container.streams.audio:
            raise InputError(f"{spec} has no audio stream: give a file or stream with sound")
        stream = container.streams.audio[0]
        resampler = MonoResampler()
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
    chunker = Rechunker(chunk_samples)
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
        str(spec), chunk_samples(chunk_seconds), pcm_rate, pcm_channels, pcm_format, stdin
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
    return join_samples([chunk.samples for chunk in chunks])


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
    chunk_samples(chunk_seconds)
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
