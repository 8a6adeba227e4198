"""A stream served with translation: PCM in, Spanish viewers get translations of
its sentences (real tiny.en speech model, tiny NLLB checkpoint built here)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from server_testkit import INGEST_MODEL, Received, collect, open_viewer, run, speech_models  # noqa: F401
from websockets.asyncio.client import connect

from livetrans.pipeline import SpeechModels
from livetrans.server.app import CaptionServer, ServerConfig
from livetrans.server.pipelines import LivePipelineFactory
from livetrans.sources import load_audio

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
CLIP = SAMPLES / "speech" / "en" / "picovoice_test_en.wav"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_nllb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from livetrans.mt.synthetic import build_nllb_checkpoint

    flores = SAMPLES / "mt" / "testsets" / "flores"
    lines = [line for lang in ("en", "es") for line in (flores / f"flores-dev.{lang}").read_text("utf-8").splitlines()[:150]]
    return build_nllb_checkpoint(tmp_path_factory.mktemp("mt") / "nllb-tiny", lines)


def test_viewers_of_a_translated_stream_get_translations_of_every_sentence(
    speech_models: SpeechModels, tiny_nllb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVETRANS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    pcm = (np.concatenate([load_audio(CLIP), np.zeros(16000, np.float32)]) * 32767).astype("<i2").tobytes()
    frame_bytes = 1600 * 2

    async def scenario() -> Received:
        factory = LivePipelineFactory(replace(INGEST_MODEL, mt_model=str(tiny_nllb)), speech_models)
        config = ServerConfig(port=0, token="secret", journal_dir=tmp_path / "journal", ping_interval=None,
                              targets=("es",))
        async with CaptionServer(config, pipeline_factory=factory) as server:
            async with connect(f"{server.ws_url}/v1/streams/show/ingest?token=secret") as encoder:
                await encoder.send(json.dumps({"type": "start", "sample_rate": 16000, "channels": 1,
                                               "format": "s16le", "language": "en", "targets": ["es"]}))
                reply = json.loads(await encoder.recv())
                assert reply["type"] == "started", reply
                viewer_ws, hello = await open_viewer(f"{server.ws_url}/v1/streams/show/captions?lang=*")
                assert "es" in hello["languages"]
                viewer = asyncio.create_task(collect(viewer_ws))
                for start in range(0, len(pcm), frame_bytes):
                    await encoder.send(pcm[start : start + frame_bytes])
                await encoder.send(json.dumps({"type": "end"}))
                await collect(encoder)
            return await viewer

    got = run(scenario(), timeout=240)
    sentences = {m["id"] for m in got.of_type("sentence")}
    translations = got.of_type("translation")
    finals = [t for t in translations if t["kind"] == "final"]
    assert sentences, "the clip produced no sentence"
    assert {t["id"] for t in finals} == sentences and len(finals) == len(sentences)
    assert {t["id"] for t in translations} <= sentences  # drafts are of sentences that then end
    assert all(t["lang"] == "es" and t["source_lang"] == "en" for t in translations)
    assert got.durable_seqs() == list(range(1, len(got.durable_seqs()) + 1))
