"""Audio sources: real files decoded by PyAV, raw PCM, bad input, live pacing."""

from __future__ import annotations

import asyncio
import csv
import functools
import http.server
import io
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from livetrans import sources
from livetrans.errors import InputError
from livetrans.sources import PcmDecoder, audio_source, iter_audio_chunks, load_audio
from livetrans.types import SAMPLE_RATE, AudioChunk

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
JFK = SAMPLES / "speech" / "en" / "jfk_inaugural_1961.flac"


def _speech_rows() -> list[tuple[str, float]]:
    with open(SAMPLES / "MANIFEST.tsv", encoding="utf-8", newline="") as f:
        rows = csv.DictReader(f, delimiter="\t")
        return [(r["path"], float(r["duration_s"])) for r in rows if r["kind"] == "speech"]


def _sine(freq: float, seconds: float, rate: int) -> npt.NDArray[np.float32]:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(samples: npt.NDArray[np.float32]) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(samples))


def _assert_contiguous(chunks: list[AudioChunk]) -> None:
    assert chunks, "no chunks"
    assert chunks[0].start == 0.0
    for before, after in zip(chunks, chunks[1:]):
        assert after.start == pytest.approx(before.end, abs=1e-9)
    for chunk in chunks:
        assert chunk.samples.dtype == np.float32 and chunk.samples.ndim == 1


@pytest.mark.parametrize(("rel_path", "duration_s"), _speech_rows())
def test_sample_files_decode_to_16k_mono_float32_of_manifest_duration(
    rel_path: str, duration_s: float
) -> None:
    audio = load_audio(SAMPLES / rel_path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / SAMPLE_RATE == pytest.approx(duration_s, abs=0.02)
    assert float(np.abs(audio).max()) > 0.001
    info = sf.info(SAMPLES / rel_path)
    if info.samplerate == SAMPLE_RATE and info.channels == 1:  # libsndfile as a second opinion
        expected, _ = sf.read(SAMPLES / rel_path, dtype="float32")
        assert len(expected) == len(audio)
        if rel_path.endswith((".wav", ".flac")):
            np.testing.assert_allclose(audio, expected, atol=1e-4)
        else:  # two different Opus decoders: same signal, not the same rounding
            assert np.corrcoef(audio, expected)[0, 1] > 0.98


def test_chunks_are_fixed_length_with_sample_counted_starts() -> None:
    chunks = list(iter_audio_chunks(str(JFK), chunk_seconds=0.25))
    _assert_contiguous(chunks)
    assert {len(c.samples) for c in chunks[:-1]} == {4000}
    assert 0 < len(chunks[-1].samples) <= 4000
    joined = np.concatenate([c.samples for c in chunks])
    np.testing.assert_array_equal(joined, load_audio(JFK))


def test_stereo_44k_wav_is_downmixed_and_resampled(tmp_path: Path) -> None:
    left = _sine(1000, 2.0, 44_100)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, left], axis=1), 44_100, subtype="PCM_16")
    audio = load_audio(path)
    assert len(audio) / SAMPLE_RATE == pytest.approx(2.0, abs=0.01)
    assert _peak_hz(audio) == pytest.approx(1000, abs=2)


def _write_container(
    path: Path, audio_codec: str | None, with_video: bool, seconds: float = 1.5
) -> None:
    """Writes a real media file with PyAV: a 440 Hz tone, optionally behind a video stream."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=10) if with_video else None
        if video is not None:
            assert isinstance(video, av.VideoStream)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        if audio_codec is not None:
            audio = out.add_stream(audio_codec, rate=44_100)
            assert isinstance(audio, av.AudioStream)
            audio.layout = "stereo"
            stereo = np.repeat(_sine(440, seconds, 44_100), 2)[np.newaxis, :]
            step = 1024
            for i in range(0, stereo.shape[1] // 2, step):
                block = np.ascontiguousarray(stereo[:, 2 * i : 2 * (i + step)])
                sound = av.AudioFrame.from_ndarray(block, format="flt", layout="stereo")
                sound.sample_rate, sound.pts = 44_100, i
                sound.time_base = Fraction(1, 44_100)
                out.mux(audio.encode(sound))
            out.mux(audio.encode(None))
        if video is not None:
            assert isinstance(video, av.VideoStream)
            for i in range(int(seconds * 10)):
                image = np.full((48, 64, 3), i * 10 % 255, dtype=np.uint8)
                picture = av.VideoFrame.from_ndarray(image, format="rgb24")
                picture.pts = i
                out.mux(video.encode(picture))
            out.mux(video.encode(None))


@pytest.mark.parametrize(
    ("name", "codec", "with_video"),
    [("tone.mp3", "libmp3lame", False), ("clip.mkv", "aac", True), ("clip.mp4", "aac", True)],
)
def test_mp3_and_video_containers_decode_their_audio_stream(
    tmp_path: Path, name: str, codec: str, with_video: bool
) -> None:
    path = tmp_path / name
    _write_container(path, codec, with_video)
    audio = load_audio(path)
    # encoders add priming / padding, so allow a few frames either way
    assert len(audio) / SAMPLE_RATE == pytest.approx(1.5, abs=0.08)
    assert _peak_hz(audio) == pytest.approx(440, abs=3)


def _pcm_bytes(tone: npt.NDArray[np.float32], channels: int, fmt: str) -> bytes:
    interleaved = np.repeat(tone, channels)
    if fmt == "s16le":
        return (interleaved * 32767).astype("<i2").tobytes()
    return interleaved.astype("<f4").tobytes()


def _odd_splits(data: bytes) -> Iterator[bytes]:
    sizes, i, k = (1, 7, 333, 1001, 4099), 0, 0
    while i < len(data):
        yield data[i : i + sizes[k % len(sizes)]]
        i += sizes[k % len(sizes)]
        k += 1


@pytest.mark.parametrize(
    ("rate", "channels", "fmt"),
    [
        (8_000, 2, "s16le"),
        (44_100, 2, "f32le"),
        (48_000, 2, "s16le"),
        (44_100, 1, "s16le"),
        (16_000, 1, "f32le"),
        (22_050, 6, "f32le"),
    ],
)
def test_pcm_decoder_gives_16k_mono_with_running_starts(rate: int, channels: int, fmt: str) -> None:
    data = _pcm_bytes(_sine(440, 1.5, rate), channels, fmt)
    whole = PcmDecoder(rate, channels, fmt)  # type: ignore[arg-type]
    reference = whole.push(data) + whole.flush()
    split = PcmDecoder(rate, channels, fmt)  # type: ignore[arg-type]
    chunks = [c for piece in _odd_splits(data) for c in split.push(piece)] + split.flush()
    _assert_contiguous(chunks)
    audio = np.concatenate([c.samples for c in chunks])
    assert len(audio) / SAMPLE_RATE == pytest.approx(1.5, abs=0.005)
    assert _peak_hz(audio) == pytest.approx(440, abs=2)
    assert float(np.abs(audio[2000:-2000]).max()) == pytest.approx(0.5, abs=0.03)
    expected = np.concatenate([c.samples for c in reference])
    assert len(expected) == len(audio)
    np.testing.assert_allclose(audio, expected, atol=1e-3)


def test_pcm_decoder_fixed_chunks_and_partial_frame_wait() -> None:
    decoder = PcmDecoder(16_000, 2, "s16le", chunk_seconds=0.1)
    assert decoder.push(b"\x01\x00\x02") == []  # not even one frame yet
    data = _pcm_bytes(_sine(300, 0.35, 16_000), 2, "s16le")
    chunks = decoder.push(b"\x00" + data[4:]) + decoder.flush()
    assert [len(c.samples) for c in chunks] == [1600, 1600, 1600, 800]
    assert [c.start for c in chunks] == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_pcm_decoder_replaces_non_finite_floats() -> None:
    data = np.array([0.25, np.nan, np.inf, -np.inf], dtype="<f4").tobytes()
    decoder = PcmDecoder(16_000, 1, "f32le")
    (chunk,) = decoder.push(data)
    assert chunk.samples.tolist() == [0.25, 0.0, 1.0, -1.0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 1, "s16le"), "bad PCM sample rate 0"),
        ((16_000, 0, "s16le"), "bad PCM channel count 0"),
        ((16_000, 1, "u8"), "bad PCM sample format 'u8'"),
    ],
)
def test_pcm_decoder_rejects_bad_parameters(args: tuple[int, int, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        PcmDecoder(*args)  # type: ignore[arg-type]


def test_stdin_pcm_is_decoded_from_raw_bytes() -> None:
    data = _pcm_bytes(_sine(440, 1.0, 48_000), 2, "s16le")
    chunks = list(
        iter_audio_chunks("-", pcm_rate=48_000, pcm_channels=2, stdin=io.BytesIO(data))
    )
    _assert_contiguous(chunks)
    assert sum(len(c.samples) for c in chunks) / SAMPLE_RATE == pytest.approx(1.0, abs=0.005)
    with pytest.raises(InputError, match="^stdin holds no audio$"):
        load_audio("-", stdin=io.BytesIO(b""))


NOT_AUDIO = r"^cannot decode .*: not an audio file or unsupported format$"


def _write_video_only(path: Path) -> None:
    _write_container(path, None, True, seconds=0.5)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (None, r"^no such file: .*missing\.wav$"),
        (lambda p: p.mkdir(), r"is a directory, not an audio file"),
        (lambda p: p.write_text("hello, I am text\n" * 20), NOT_AUDIO),
        (lambda p: p.write_bytes(JFK.read_bytes()[:3000]), NOT_AUDIO),
        (lambda p: p.write_bytes(b""), r"holds no audio \(the file is empty\)$"),
        (lambda p: sf.write(p, np.zeros(0, np.float32), 16_000, format="WAV"), "holds no audio$"),
        (_write_video_only, r"has no audio stream"),
    ],
    ids=[
        "missing", "directory", "text-as-wav", "truncated-flac", "zero-bytes", "zero-samples",
        "no-audio-stream",
    ],
)
def test_bad_input_gives_one_line_input_error(tmp_path: Path, make: object, message: str) -> None:
    path = tmp_path / ("video.mkv" if make is _write_video_only else "missing.wav")
    if callable(make):
        make(path)
    with pytest.raises(InputError, match=message) as info:
        load_audio(path)
    assert "\n" not in str(info.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize("template", ["rtmp://127.0.0.1:{}/live/x", "http://127.0.0.1:{}/x.m3u8"])
def test_unreachable_url_fails_fast(template: str) -> None:
    url = template.format(_closed_port())
    t0 = time.monotonic()
    expected = r"^cannot open stream URL: .*\(check the address / network\)$"
    with pytest.raises(InputError, match=expected):
        list(iter_audio_chunks(url))
    assert time.monotonic() - t0 < 5


def test_silent_server_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that accepts the connection but never answers fails after the open timeout."""
    monkeypatch.setattr(sources, "URL_OPEN_TIMEOUT", 1.0)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/live.m3u8"
        t0 = time.monotonic()
        with pytest.raises(InputError, match=r"^cannot open stream URL: .*no answer within 1 s"):
            list(iter_audio_chunks(url))
        assert time.monotonic() - t0 < 4


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_hls_over_http_is_decoded(tmp_path: Path) -> None:
    """An HLS playlist served by a real local HTTP server, as a broadcaster's CDN would."""
    with av.open(
        str(tmp_path / "index.m3u8"), "w", format="hls",
        options={"hls_time": "1", "hls_playlist_type": "vod"},
    ) as out:
        stream = out.add_stream("aac", rate=44_100)
        assert isinstance(stream, av.AudioStream)
        stream.layout = "mono"
        tone = _sine(440, 3.0, 44_100)[np.newaxis, :]
        for i in range(0, tone.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(tone[:, i : i + 1024]), format="flt", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = 44_100, i, Fraction(1, 44_100)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    assert len(list(tmp_path.glob("*.ts"))) >= 3
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.m3u8"
        chunks = list(iter_audio_chunks(url))
    finally:
        server.shutdown()
        server.server_close()
    _assert_contiguous(chunks)
    audio = np.concatenate([c.samples for c in chunks])
    assert len(audio) / SAMPLE_RATE == pytest.approx(3.0, abs=0.1)
    assert _peak_hz(audio) == pytest.approx(440, abs=2)


def test_real_stdin_pipe_is_read(tmp_path: Path) -> None:
    """``-`` reads the process's own stdin (here a file piped into a fresh interpreter)."""
    raw = tmp_path / "tone.f32"
    raw.write_bytes(_pcm_bytes(_sine(440, 0.75, 8_000), 1, "f32le"))
    code = (
        "from livetrans.sources import load_audio;"
        "print(len(load_audio('-', pcm_rate=8000, pcm_format='f32le')))"
    )
    with open(raw, "rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-c", code], stdin=stdin, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == pytest.approx(0.75 * SAMPLE_RATE, abs=16)


def _mpegts_tone(seconds: float) -> bytes:
    """A real MPEG-TS byte stream with 48 kHz stereo MP2 audio, as a broadcaster sends it."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mpegts") as out:
        stream = out.add_stream("mp2", rate=48_000)
        assert isinstance(stream, av.AudioStream)
        stream.layout = "stereo"
        tone = (np.repeat(_sine(440, seconds, 48_000), 2) * 32767).astype(np.int16)
        for i in range(0, len(tone) // 2, 1152):
            block = np.ascontiguousarray(tone[np.newaxis, 2 * i : 2 * (i + 1152)])
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="stereo")
            frame.sample_rate, frame.pts = 48_000, i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def test_udp_listener_waits_for_its_sender_and_decodes_incrementally(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Listen-mode inputs are exempt from the open timeout: the sender may start later."""
    monkeypatch.setattr(sources, "URL_OPEN_TIMEOUT", 0.5)
    data = _mpegts_tone(3.0)
    port = _closed_port()

    def send_later() -> None:
        time.sleep(1.0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for i in range(0, len(data), 1316):
                udp.sendto(data[i : i + 1316], ("127.0.0.1", port))
                time.sleep(0.0005)

    threading.Thread(target=send_later, daemon=True).start()
    chunks: list[AudioChunk] = []
    for chunk in iter_audio_chunks(f"udp://127.0.0.1:{port}"):
        chunks.append(chunk)
        if len(chunks) == 10:
            break  # a live stream has no end; stop after 1 s of audio
    _assert_contiguous(chunks)
    audio = np.concatenate([c.samples for c in chunks])
    assert len(audio) == SAMPLE_RATE
    assert _peak_hz(audio[4000:]) == pytest.approx(440, abs=4)


async def _drain(spec: Path, live: bool) -> tuple[float, list[AudioChunk]]:
    t0 = time.monotonic()
    chunks = [c async for c in audio_source(spec, live=live)]
    return time.monotonic() - t0, chunks


def test_live_pacing_releases_a_file_at_real_time(tmp_path: Path) -> None:
    path = tmp_path / "one_second.wav"
    sf.write(path, _sine(440, 1.0, 16_000), 16_000)
    paced_s, chunks = asyncio.run(_drain(path, live=True))
    fast_s, fast_chunks = asyncio.run(_drain(path, live=False))
    assert 0.9 <= paced_s < 2.5
    assert fast_s < 0.5 * paced_s
    _assert_contiguous(chunks)
    assert len(chunks) == len(fast_chunks) == 10


def _source_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "livetrans-audio-source"]


def test_stopping_the_consumer_ends_the_decoding_thread() -> None:
    before = set(_source_threads())

    async def take_two() -> list[AudioChunk]:
        got: list[AudioChunk] = []
        source = audio_source(JFK, live=True, max_buffered_chunks=2)
        async for chunk in source:
            got.append(chunk)
            if len(got) == 2:
                break
        await source.aclose()  # type: ignore[attr-defined]
        return got

    assert len(asyncio.run(take_two())) == 2
    deadline = time.monotonic() + 2
    while set(_source_threads()) - before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not set(_source_threads()) - before


def test_cancelling_the_consumer_task_ends_the_decoding_thread() -> None:
    before = set(_source_threads())

    async def cancel_midway() -> None:
        async def consume() -> None:
            async for _ in audio_source(JFK, live=True):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        assert set(_source_threads()) - before, "the decoding thread should be running"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    deadline = time.monotonic() + 2
    while set(_source_threads()) - before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not set(_source_threads()) - before


def test_async_source_raises_the_decoders_input_error(tmp_path: Path) -> None:
    async def consume() -> None:
        async for _ in audio_source(tmp_path / "nope.flac", live=False):
            pass

    with pytest.raises(InputError, match="^no such file: "):
        asyncio.run(consume())
