"""HLS subtitle renditions of a live stream: real ingest (tiny.en), real HTTP, m3u8,
webvtt-py and ffmpeg reading the live playlist."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import m3u8
import numpy as np
import pytest
import webvtt
from hls_testkit import get, static_origin
from server_testkit import INGEST_MODEL, Received, collect, open_viewer, run, speech_models  # noqa: F401
from websockets.asyncio.client import connect

from livetrans.core.hls import HlsOptions
from livetrans.pipeline import SpeechModels
from livetrans.server.app import CaptionServer, ServerConfig
from livetrans.server.hls import HlsConfig, HlsService
from livetrans.server.pipelines import LivePipelineFactory
from livetrans.sources import load_audio

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
CLIP = SAMPLES / "speech" / "en" / "jfk_inaugural_1961.flac"
SEGMENT = 1.0  # s

pytestmark = pytest.mark.slow


def vtt_seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def write_origin(root: Path) -> None:
    (root / "live").mkdir(parents=True)
    (root / "live" / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\nlow.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=900000\nhigh/index.m3u8\n")
    (root / "live" / "media.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n")
    (root / "page.m3u8").write_text("<!doctype html><html><body>Not found</body></html>\n")


def test_live_subtitle_playlists_serve_players_ffmpeg_and_files(
    speech_models: SpeechModels, tmp_path: Path
) -> None:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "apt-get install ffmpeg"
    pcm = (np.concatenate([load_audio(CLIP), np.zeros(32000, np.float32)]) * 32767).astype("<i2").tobytes()
    frame_bytes = 1600 * 2  # 0.1 s
    hls = HlsConfig(HlsOptions(segment_duration=SEGMENT, window_segments=60), directory=tmp_path / "hls")
    write_origin(tmp_path / "origin")
    found: dict[str, object] = {}

    async def scenario() -> Received:
        factory = LivePipelineFactory(INGEST_MODEL, speech_models)
        config = ServerConfig(port=0, token="secret", ping_interval=None, hls=hls)
        with static_origin(tmp_path / "origin") as origin:
            return await serve(config, factory, origin)

    async def serve(config: ServerConfig, factory: LivePipelineFactory, origin: str) -> Received:
        async with CaptionServer(config, pipeline_factory=factory) as server:
            edge = HlsService(HlsConfig(hls.options))  # a second consumer of the same events
            edge.attach(server.stream("show"))
            base = f"{server.base_url}/hls/show"
            async with connect(f"{server.ws_url}/v1/streams/show/ingest?token=secret") as encoder:
                await encoder.send(json.dumps({"type": "start", "sample_rate": 16000, "channels": 1,
                                               "language": "en", "start_pts": 10.0}))
                assert json.loads(await encoder.recv())["type"] == "started"
                viewer_ws, _ = await open_viewer(f"{server.ws_url}/v1/streams/show/captions?lang=*")
                viewer = asyncio.create_task(collect(viewer_ws))

                async def send_audio() -> None:
                    for start in range(0, len(pcm), frame_bytes):
                        await encoder.send(pcm[start : start + frame_bytes])
                        await asyncio.sleep(0.1)  # a live encoder
                    await encoder.send(json.dumps({"type": "end"}))

                sender = asyncio.create_task(send_audio())
                while True:  # the first segment, then ffmpeg reads the playlist while it is live
                    status, headers, body = await get(f"{base}/en.m3u8")
                    if status == 200 and m3u8.loads(body.decode()).segments:
                        break
                    await asyncio.sleep(0.1)
                found["live_when_ffmpeg_started"] = b"#EXT-X-ENDLIST" not in body
                found["playlist_headers"] = headers
                reader = await asyncio.create_subprocess_exec(
                    ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", f"{base}/source.m3u8",
                    "-f", "webvtt", str(tmp_path / "ffmpeg.vtt"),
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                # Bad requests while live: each a clear error, the stream keeps serving.
                found["unknown_stream"] = await get(f"{server.base_url}/hls/nope/source.m3u8")
                found["unknown_lang"] = await get(f"{base}/fr.m3u8")
                found["refused_origin"] = await get(f"{base}/master.m3u8?origin=http://127.0.0.1:9/x.m3u8")
                found["html_origin"] = await get(f"{base}/master.m3u8?origin={origin}page.m3u8")
                found["media_origin"] = await get(f"{base}/master.m3u8?origin={origin}live/media.m3u8")
                found["no_origin"] = await get(f"{base}/master.m3u8")
                found["master"] = await get(f"{base}/master.m3u8?origin={origin}live/master.m3u8")
                found["after_errors"] = await get(f"{base}/source.m3u8")
                await sender
                await collect(encoder)
            out, err = await asyncio.wait_for(reader.communicate(), 30)
            found["ffmpeg"] = (reader.returncode, err.decode())
            playlist = (await get(f"{base}/source.m3u8"))[2].decode()
            found["playlist"] = playlist
            found["segments"] = {}
            for segment in m3u8.loads(playlist).segments:
                status, headers, body = await get(f"{base}/{segment.uri}")
                assert status == 200, segment.uri
                found["segments"][segment.uri] = body.decode()
                found["segment_headers"] = headers
            packager = server.hls.packagers["show"]
            found["edge_same"] = (edge.packagers["show"].playlist("source") == packager.playlist("source")
                                  and [s.text for s in edge.packagers["show"].segments("source")]
                                  == [s.text for s in packager.segments("source")])
            found["lags"] = [s.published_at - s.end for s in packager.segments("source")]
            return await viewer

    got = run(scenario(), timeout=150)
    for key, status in (("unknown_stream", 404), ("unknown_lang", 404), ("refused_origin", 502),
                        ("html_origin", 502), ("media_origin", 502), ("no_origin", 400)):
        code, _, body = found[key]
        assert code == status, (key, code, body)
        assert body.decode().count("\n") == 1, body  # one line, saying why
    assert b"did not answer an HLS playlist" in found["html_origin"][2]
    assert b"not a master playlist" in found["media_origin"][2]
    assert found["after_errors"][0] == 200
    master = m3u8.loads(found["master"][2].decode())
    subs = [m for m in master.media if m.type == "SUBTITLES"]
    assert [(m.language, m.name, m.default) for m in subs] == [("en", "English", "YES")]
    assert subs[0].uri.endswith("/hls/show/source.m3u8") and subs[0].uri.startswith("http://")
    assert all(p.stream_info.subtitles == "livetrans" and p.uri.startswith("http://") for p in master.playlists)

    headers = found["playlist_headers"]
    assert headers["Access-Control-Allow-Origin"] == "*" and "max-age=" in headers["Cache-Control"]
    assert "immutable" in found["segment_headers"]["Cache-Control"]
    assert found["segment_headers"]["Content-Type"].startswith("text/vtt")

    parsed = m3u8.loads(found["playlist"])
    assert parsed.is_endlist and parsed.target_duration == 1 and parsed.media_sequence == 0
    audio_seconds = len(pcm) / 2 / 16000
    assert abs(sum(s.duration for s in parsed.segments) - audio_seconds) < 0.2
    cue_text = []
    for uri, text in found["segments"].items():
        assert "X-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000" in text  # start_pts 10 s
        path = tmp_path / uri.replace("/", "_")
        path.write_text(text, "utf-8")
        assert (tmp_path / "hls" / "show" / uri).read_text("utf-8") == text  # the folder has the same
        index = list(found["segments"]).index(uri)
        for cue in webvtt.read(str(path)):
            assert vtt_seconds(cue.start) < (index + 1) * SEGMENT and vtt_seconds(cue.end) > index * SEGMENT
            cue_text.append(cue.text.replace("\n", " "))
    assert (tmp_path / "hls" / "show" / "source.m3u8").read_text() == found["playlist"]
    sentences = [m["text"].strip() for m in got.of_type("sentence")]
    assert sentences and " ".join(dict.fromkeys(cue_text)) == " ".join(sentences)
    assert "country" in " ".join(sentences).lower()

    code, err = found["ffmpeg"]
    assert found["live_when_ffmpeg_started"]
    assert code == 0 and err.strip() == "", err
    ffmpeg_vtt = (tmp_path / "ffmpeg.vtt").read_text("utf-8")
    assert "country" in ffmpeg_vtt.lower()
    assert found["edge_same"]

    # The publication rule's bound: a segment waits for the final that passes its end (the
    # finals' latency, plus up to one final's length past the segment end) and for its last
    # cue's end to be fixed (up to the shortest cue time on screen).
    finals = [m["emitted_at"] - m["end"] for m in got.of_type("caption") if m["kind"] == "final"]
    lengths = [m["end"] - m["start"] for m in got.of_type("caption") if m["kind"] == "final"]
    lags = found["lags"]
    bound = SEGMENT + float(np.percentile(finals, 95)) + HlsOptions().cues.min_duration
    assert float(np.percentile(lags, 95)) <= bound, (lags, finals, lengths)
    assert min(lags) > 0  # never before the audio it covers
    vtt_bytes = sum(len(t.encode()) for t in found["segments"].values())
    print(f"HLS lag (published - segment end): p50 {np.percentile(lags, 50):.2f} s, p95 {np.percentile(lags, 95):.2f} s;"
          f" final-caption latency p95 {np.percentile(finals, 95):.2f} s; segment {SEGMENT:g} s;"
          f" {vtt_bytes / (audio_seconds / 60):.0f} bytes/min of WebVTT (source)")
