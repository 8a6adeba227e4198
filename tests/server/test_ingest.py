"""PCM pushed to the ingest WebSocket becomes captions, through the real pipeline (tiny.en)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from server_testkit import INGEST_MODEL, Received, collect, open_viewer, run, speech_models  # noqa: F401
from websockets.asyncio.client import connect

from livetrans.pipeline import SpeechModels
from livetrans.server.app import CaptionServer, ServerConfig
from livetrans.server.pipelines import LivePipelineFactory
from livetrans.server.protocol import CloseCode

JFK = Path(__file__).resolve().parents[2] / "samples" / "speech" / "en" / "jfk_inaugural_1961.flac"
RATE = 48_000  # Hz: the encoder's rate, so the server has to resample
FRAME_SECONDS = 0.1

pytestmark = pytest.mark.slow


def stereo_s16le_48k(path: Path) -> bytes:
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    t_out = np.arange(int(len(mono) * RATE / rate)) / RATE
    resampled = np.interp(t_out, np.arange(len(mono)) / rate, mono)
    stereo = np.stack([resampled, resampled * 0.8], axis=1)
    return (np.clip(stereo, -1, 1) * 32767).astype("<i2").tobytes()


def test_pcm_ingest_produces_captions_for_viewers(speech_models: SpeechModels, tmp_path: Path) -> None:
    pcm = stereo_s16le_48k(JFK)
    frame_bytes = int(RATE * FRAME_SECONDS) * 2 * 2

    async def scenario() -> tuple[Received, Received]:
        factory = LivePipelineFactory(INGEST_MODEL, speech_models)
        config = ServerConfig(port=0, token="secret", journal_dir=tmp_path, ping_interval=None)
        async with CaptionServer(config, pipeline_factory=factory) as server:
            url = f"{server.ws_url}/v1/streams/jfk/ingest?token=secret"
            async with connect(url) as encoder:
                await encoder.send(json.dumps({"type": "start", "sample_rate": RATE, "channels": 2,
                                               "format": "s16le", "language": "en"}))
                started = json.loads(await encoder.recv())
                assert started["type"] == "started" and started["seq_base"] == 0
                viewer_ws, hello = await open_viewer(f"{server.ws_url}/v1/streams/jfk/captions")
                assert hello["live"] and hello["source_lang"] == "en"
                viewer = asyncio.create_task(collect(viewer_ws))
                for start in range(0, len(pcm), frame_bytes):
                    await encoder.send(pcm[start : start + frame_bytes])
                await encoder.send(json.dumps({"type": "end"}))
                encoder_got = await collect(encoder)
            return encoder_got, await viewer

    encoder_got, viewer_got = run(scenario(), timeout=180)
    assert encoder_got.close_code == CloseCode.NORMAL
    end = encoder_got.of_type("end")[0]
    finals = [m for m in viewer_got.of_type("caption") if m["kind"] == "final"]
    text = " ".join(m["text"] for m in finals).lower()
    words = set(re.findall(r"[a-z]+", text))
    assert {"fellow", "americans", "country"} <= words, text
    assert viewer_got.messages[-1] == {"type": "end", "stream": "jfk", "last_seq": end["last_seq"],
                                       "reason": "input ended"}
    assert viewer_got.durable_seqs() == list(range(1, end["last_seq"] + 1))
    assert all(0 <= m["start"] <= m["end"] <= 11.5 for m in finals)
