"""The control API: an authenticated HTTP PUT replaces a live stream's vocabulary, in one
process and, scaled out, through Redis on whichever worker owns the stream."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from redis_testkit import RedisServer, redis_server  # noqa: F401
from server_testkit import INGEST_MODEL, run, speech_models  # noqa: F401
from websockets.asyncio.client import ClientConnection, connect

from livetrans.pipeline import SpeechModels
from livetrans.server.app import CaptionServer, ServerConfig
from livetrans.server.busfeed import vocabulary_key
from livetrans.server.pipelines import LivePipelineFactory

pytestmark = pytest.mark.slow

TERMS = {"terms": ["OnePlus 12R", {"term": "Kiehl's", "sounds_like": ["keels"]}]}


def put(url: str, body: bytes, token: str | None = "tok", method: str = "PUT") -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def start_encoder(server: CaptionServer, name: str = "cam") -> ClientConnection:
    ws = await connect(f"{server.ws_url}/v1/streams/{name}/ingest?token=tok")
    await ws.send(json.dumps({"type": "start", "sample_rate": 16000, "language": "en"}))
    assert json.loads(await ws.recv())["type"] == "started"
    await ws.send((np.zeros(8000, "<i2")).tobytes())
    return ws


async def finish(ws: ClientConnection) -> None:
    await ws.send(json.dumps({"type": "end"}))
    async for _ in ws:
        pass


def test_a_put_replaces_a_live_streams_vocabulary_and_bad_calls_are_refused(
    speech_models: SpeechModels, tmp_path: Path
) -> None:
    async def scenario() -> dict[str, tuple[int, dict[str, Any]]]:
        factory = LivePipelineFactory(INGEST_MODEL, speech_models)
        config = ServerConfig(port=0, token="tok", ping_interval=None, control_port=0)
        async with CaptionServer(config, pipeline_factory=factory) as server:
            assert server.control is not None
            url = f"http://127.0.0.1:{server.control.port}/v1/streams/cam/vocabulary"
            got = {"not_live": await asyncio.to_thread(put, url, json.dumps(TERMS).encode())}
            encoder = await start_encoder(server)
            got["ok"] = await asyncio.to_thread(put, url, json.dumps(TERMS).encode())
            pipeline = server.pipelines["cam"]
            got["applied"] = (200, {"terms": [t.term for t in pipeline.vocabulary.terms]})  # type: ignore[attr-defined]
            got["no_token"] = await asyncio.to_thread(put, url, b"{}", None)
            got["not_json"] = await asyncio.to_thread(put, url, b"terms: x")
            got["empty_term"] = await asyncio.to_thread(put, url, b'{"terms": ["ok", ""]}')
            got["long_term"] = await asyncio.to_thread(put, url, json.dumps({"terms": ["x" * 500]}).encode())
            got["too_many"] = await asyncio.to_thread(
                put, url, json.dumps({"terms": [f"Product {i}" for i in range(5000)]}).encode())
            got["too_big"] = await asyncio.to_thread(put, url, b" " * (2 << 20))
            got["get"] = await asyncio.to_thread(put, url, b"", "tok", "GET")
            got["elsewhere"] = await asyncio.to_thread(put, url.replace("/vocabulary", "/other"), b"{}")
            got["still"] = (200, {"terms": [t.term for t in pipeline.vocabulary.terms]})  # type: ignore[attr-defined]
            await finish(encoder)
        return got

    got = run(scenario(), timeout=120)
    assert got["not_live"][0] == 404 and "no live stream 'cam'" in got["not_live"][1]["error"]
    assert got["ok"] == (200, {"stream": "cam", "terms": 2, "applies": "from the next utterance"})
    assert got["applied"][1]["terms"] == ["OnePlus 12R", "Kiehl's"]
    assert got["no_token"][0] == 401
    for key in ("not_json", "empty_term", "long_term", "too_many"):
        assert got[key][0] == 400 and got[key][1]["error"], key
    assert got["too_big"][0] == 413 and got["get"][0] == 405 and got["elsewhere"][0] == 404
    assert got["still"] == got["applied"]  # bad input left the stream's vocabulary as it was


def test_a_put_to_an_edge_reaches_the_worker_that_owns_the_stream(
    speech_models: SpeechModels, redis_server: RedisServer
) -> None:
    async def scenario() -> tuple[tuple[int, dict[str, Any]], list[str], bool, bool]:
        factory = LivePipelineFactory(INGEST_MODEL, speech_models)
        common = {"port": 0, "token": "tok", "ping_interval": None, "bus_url": redis_server.url, "control_port": 0}
        async with CaptionServer(ServerConfig(role="worker", **common), pipeline_factory=factory) as worker, \
                CaptionServer(ServerConfig(role="edge", **common)) as edge:
            encoder = await start_encoder(worker)
            assert edge.control is not None
            answer = await asyncio.to_thread(
                put, f"http://127.0.0.1:{edge.control.port}/v1/streams/cam/vocabulary", json.dumps(TERMS).encode())
            pipeline = worker.pipelines["cam"]
            for _ in range(100):  # over Redis Pub/Sub to the owner
                if pipeline.vocabulary:  # type: ignore[attr-defined]
                    break
                await asyncio.sleep(0.05)
            terms = [t.term for t in pipeline.vocabulary.terms]  # type: ignore[attr-defined]
            stored = redis_server.client().get(vocabulary_key("cam")) is not None
            await finish(encoder)
            await asyncio.sleep(0.2)
            gone = redis_server.client().get(vocabulary_key("cam")) is None
        return answer, terms, stored, gone

    answer, terms, stored, gone = run(scenario(), timeout=120)
    assert answer[0] == 200 and answer[1]["terms"] == 2
    assert terms == ["OnePlus 12R", "Kiehl's"]
    assert stored, "kept in Redis, so a worker taking the stream over applies it"
    assert gone, "the session's end ends its live vocabulary"
