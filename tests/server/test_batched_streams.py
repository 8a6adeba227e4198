"""Streams of one server whose decodes are batched (the real pipeline, tiny.en): every
stream is captioned, and /metrics shows how many decodes shared each model call."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import numpy as np
import pytest
from server_testkit import (  # noqa: F401
    INGEST_MODEL,
    Received,
    collect,
    open_viewer,
    run,
    speech_models,
)
from websockets.asyncio.client import connect

from livetrans.pipeline import SpeechModels
from livetrans.server.app import CaptionServer, ServerConfig
from livetrans.server.pipelines import LivePipelineFactory
from livetrans.sources import load_audio

SPEECH = Path(__file__).resolve().parents[2] / "samples" / "speech" / "en"
CLIPS = ("jfk_inaugural_1961.flac", "librispeech_1995-1837-0001.wav")
EXPECTED = ({"fellow", "country"}, {"sorrow", "cotton"})
RATE = 16_000  # Hz
FRAME_SECONDS = 0.25

pytestmark = pytest.mark.slow


def s16le(path: Path) -> bytes:
    padded = np.concatenate([load_audio(path), np.zeros(RATE, np.float32)])
    return (np.clip(padded, -1, 1) * 32767).astype("<i2").tobytes()


async def ingest(base: str, name: str, pcm: bytes) -> Received:
    async with connect(f"{base}/v1/streams/{name}/ingest?token=secret") as encoder:
        await encoder.send(json.dumps({"type": "start", "sample_rate": RATE, "language": "en"}))
        assert json.loads(await encoder.recv())["type"] == "started"
        viewer_ws, _ = await open_viewer(f"{base}/v1/streams/{name}/captions")
        viewer = asyncio.create_task(collect(viewer_ws))
        frame_bytes = int(RATE * FRAME_SECONDS) * 2
        for start in range(0, len(pcm), frame_bytes):
            await encoder.send(pcm[start : start + frame_bytes])
            await asyncio.sleep(0.02)  # faster than real time, but spread out like a live encoder
        await encoder.send(json.dumps({"type": "end"}))
        await collect(encoder)
    return await viewer


def test_two_streams_share_batched_decodes_and_metrics_show_batch_sizes_and_lag(
    speech_models: SpeechModels, tmp_path: Path  # noqa: F811
) -> None:
    models = SpeechModels(whisper=speech_models.whisper, vad=speech_models.vad)
    batching = models.start_batching()

    async def scenario() -> tuple[list[Received], bytes, bytes]:
        factory = LivePipelineFactory(INGEST_MODEL, models)
        config = ServerConfig(port=0, token="secret", journal_dir=tmp_path, ping_interval=None)
        async with CaptionServer(config, pipeline_factory=factory) as server:
            streams = asyncio.gather(*(ingest(server.ws_url, f"s{i}", s16le(SPEECH / c)) for i, c in enumerate(CLIPS)))
            live = b""
            while b'livetrans_recognition_lag_seconds{stream="s0"}' not in live:
                await asyncio.sleep(0.5)
                live = server.metrics.render()  # while s0 is live, fed faster than real time
            got = await streams
            return list(got), live, server.metrics.render()

    try:
        received, live, metrics = run(scenario(), timeout=240)
    finally:
        batching.close()
    for got, expected in zip(received, EXPECTED):
        text = " ".join(m["text"] for m in got.of_type("caption") if m["kind"] == "final").lower()
        assert expected <= set(re.findall(r"[a-z]+", text)), text
    count = re.search(rb"^livetrans_decode_batch_size_count (\S+)$", metrics, re.MULTILINE)
    total = re.search(rb"^livetrans_decode_batch_size_sum (\S+)$", metrics, re.MULTILINE)
    assert count and total, metrics.decode()
    assert float(count.group(1)) == batching.stats.batches > 0
    assert float(total.group(1)) == batching.stats.requests >= batching.stats.batches
    assert max(batching.stats.sizes) == 2  # at some point both streams' decodes shared a call
    decodes = re.search(rb"^livetrans_decodes_total (\S+)$", metrics, re.MULTILINE)
    assert decodes and float(decodes.group(1)) == batching.stats.requests  # each stream's, counted once
    fed = gauge(live, "livetrans_audio_seconds", "s0")
    lag = gauge(live, "livetrans_recognition_lag_seconds", "s0")
    assert 0 <= lag <= fed, live.decode()
    assert b"livetrans_recognition_lag_seconds{" not in metrics  # gone with the streams


def gauge(metrics: bytes, name: str, stream: str) -> float:
    found = re.search(rf'^{name}{{stream="{stream}"}} (\S+)$'.encode(), metrics, re.MULTILINE)
    assert found, metrics.decode()
    return float(found.group(1))
