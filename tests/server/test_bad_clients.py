"""Bad clients get a clear error message or close code; the stream and other viewers go on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import numpy as np
import pytest
from server_testkit import Received, caption, closed_with, collect, open_viewer, run
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from livetrans.server.app import CaptionServer, ServerConfig
from livetrans.server.protocol import CloseCode
from livetrans.types import AudioChunk, CaptionEvent, Event


class ChunkCounter:
    """A test pipeline: one final per audio chunk it receives (the real one is in test_ingest)."""

    def __init__(self, source_lang: str | None, targets: tuple[str, ...]) -> None:
        self.lang = source_lang or "en"

    async def run(self, audio: AsyncIterator[AudioChunk], *, seq_base: int = 0) -> AsyncIterator[Event]:
        seq = seq_base
        async for chunk in audio:
            seq += 1
            yield CaptionEvent("final", f"c{seq}", chunk.start, chunk.end, f" {len(chunk.samples)}", self.lang,
                               seq=seq)


def make_server(**kw: object) -> CaptionServer:
    config = ServerConfig(port=0, token="secret", ping_interval=None, start_timeout=5.0, **kw)  # type: ignore[arg-type]
    return CaptionServer(config, pipeline_factory=ChunkCounter)


START = {"type": "start", "sample_rate": 48_000, "channels": 2, "format": "s16le", "language": "en"}
AUTH = {"additional_headers": {"Authorization": "Bearer secret"}}


async def ingest_session(server: CaptionServer, messages: list[str | bytes], name: str = "cam",
                         **kw: object) -> Received:
    """Send messages to an ingest endpoint and read replies until the server closes."""
    options = {**AUTH, **kw}
    async with connect(f"{server.ws_url}/v1/streams/{name}/ingest", **options) as ws:  # type: ignore[arg-type]
        received = Received()
        reader = asyncio.create_task(collect(ws, received))
        for message in messages:
            try:
                await ws.send(message)
            except ConnectionClosed:
                break
        return await reader


def test_bad_clients_are_told_and_the_others_go_on() -> None:
    async def scenario() -> dict[str, Received]:
        async with make_server(max_connections_per_address=8) as server:
            stream = server.open_session("main", "en", ())
            viewers = f"{server.ws_url}/v1/streams/main/captions"
            good_ws, _ = await open_viewer(viewers)
            good = asyncio.create_task(collect(good_ws))
            got: dict[str, Received] = {}

            # A viewer that sends junk gets error messages and keeps its captions.
            chatty_ws, _ = await open_viewer(viewers)
            await chatty_ws.send("{not json")
            await chatty_ws.send(json.dumps({"type": "subscribe"}))
            await chatty_ws.send(b"\x00\x01")
            chatty = Received()
            for _ in range(3):
                chatty.messages.append(json.loads(await chatty_ws.recv()))
            chatty_task = asyncio.create_task(collect(chatty_ws, chatty))
            server.publish(stream, caption("final", 1, 1))

            got["oversized viewer frame"] = await _send_and_collect(viewers, "x" * 10_000)
            got["unknown stream"] = await closed_with(f"{server.ws_url}/v1/streams/nope/captions")
            got["bad since"] = await closed_with(f"{viewers}?since=yesterday")
            got["bad lang"] = await closed_with(f"{viewers}?lang=EN_us!")
            ingest = f"{server.ws_url}/v1/streams/cam/ingest"
            got["no token"] = await closed_with(ingest)
            got["wrong token"] = await closed_with(ingest, additional_headers={"Authorization": "Bearer nope"})
            got["wrong query token"] = await closed_with(f"{ingest}?token=nope")
            got["audio before start"] = await ingest_session(server, [b"\x00" * 960])
            got["start not json"] = await ingest_session(server, ["start please"])
            got["mp3 format"] = await ingest_session(server, [json.dumps({**START, "format": "mp3"})])
            got["bad rate"] = await ingest_session(server, [json.dumps({**START, "sample_rate": "48k"})])
            got["unserved target"] = await ingest_session(server, [json.dumps({**START, "targets": ["de"]})])
            got["busy stream"] = await ingest_session(server, [json.dumps(START)], name="main")
            s16_as_f32 = (np.sin(np.arange(4800)) * 20_000).astype("<i2").tobytes()
            got["s16 sent as f32"] = await ingest_session(
                server, [json.dumps({**START, "format": "f32le"}), s16_as_f32], name="cam2")
            got["oversized ingest frame"] = await ingest_session(
                server, [json.dumps(START), b"\x00" * (2 << 20)], name="cam3", max_size=None)
            got["junk mid-stream"] = await ingest_session(
                server, [json.dumps(START), "{oops", json.dumps({"type": "pause"}), b"\x00" * 9600,
                         json.dumps({"type": "end"})], name="cam4")

            # Too many connections from one address: 8 allowed, counting the two viewers above.
            extra = [await connect(viewers) for _ in range(6)]
            got["too many"] = await closed_with(viewers)
            for ws in extra:
                await ws.close()

            server.publish(stream, caption("final", 2, 2))
            server.end_session("main", "input ended")
            got["good"] = await good
            got["chatty"] = await chatty_task
            return got

    got = run(scenario())
    codes = {name: r.close_code for name, r in got.items()}
    assert codes["oversized viewer frame"] == CloseCode.MESSAGE_TOO_BIG
    assert codes["unknown stream"] == CloseCode.UNKNOWN_STREAM and "retry" in got["unknown stream"].close_reason
    assert codes["bad since"] == CloseCode.BAD_REQUEST and "since" in got["bad since"].close_reason
    assert codes["bad lang"] == CloseCode.BAD_REQUEST
    for name in ("no token", "wrong token", "wrong query token"):
        assert codes[name] == CloseCode.UNAUTHORIZED, name
        assert "token" in got[name].close_reason
    for name, words in [("audio before start", "before the start message"), ("start not json", "malformed JSON"),
                        ("mp3 format", "s16le"), ("bad rate", "sample_rate"), ("unserved target", "--to"),
                        ("s16 sent as f32", "f32le")]:
        assert codes[name] == CloseCode.BAD_REQUEST, name
        errors = got[name].of_type("error")
        assert errors and words in errors[0]["message"], (name, got[name])
    assert codes["busy stream"] == CloseCode.STREAM_BUSY
    assert codes["oversized ingest frame"] == CloseCode.MESSAGE_TOO_BIG
    junk = got["junk mid-stream"]
    assert codes["junk mid-stream"] == CloseCode.NORMAL
    assert [m["code"] for m in junk.of_type("error")] == ["bad_message", "bad_message"]
    assert junk.messages[-1]["type"] == "end" and junk.messages[-1]["last_seq"] >= 1
    assert codes["too many"] == CloseCode.TOO_MANY_CONNECTIONS and "127.0.0.1" in got["too many"].close_reason
    chatty = got["chatty"]
    assert [m["code"] for m in chatty.of_type("error")] == ["bad_message"] * 3
    assert "malformed JSON" in chatty.of_type("error")[0]["message"]
    for name in ("good", "chatty"):
        assert got[name].durable_seqs() == [1, 2], name
        assert got[name].close_code == CloseCode.NORMAL


async def _send_and_collect(url: str, message: str) -> Received:
    async with connect(url) as ws:
        await ws.recv()  # hello
        await ws.send(message)
        return await collect(ws)


@pytest.mark.parametrize("path", ["/nothing", "/v1/streams/main/other"])
def test_unknown_http_paths_are_404(path: str) -> None:
    import urllib.error
    import urllib.request

    async def scenario() -> int:
        async with make_server() as server:
            def fetch() -> int:
                try:
                    urllib.request.urlopen(server.base_url + path, timeout=10)
                except urllib.error.HTTPError as e:
                    return e.code
                return 200
            return await asyncio.to_thread(fetch)

    assert run(scenario()) == 404


class StalledPipeline:
    """A test pipeline that never takes any audio: the worst case for shutdown."""

    def __init__(self, source_lang: str | None, targets: tuple[str, ...]) -> None:
        pass

    async def run(self, audio: AsyncIterator[AudioChunk], *, seq_base: int = 0) -> AsyncIterator[Event]:
        await asyncio.Event().wait()  # cancelled by the server's stop
        yield CaptionEvent("final", "never", 0.0, 0.0, "", "en")


def test_stop_is_clean_while_an_encoder_waits_on_a_stalled_pipeline() -> None:
    """Audio backs up behind a pipeline that takes none; stop still ends everything with 1001."""

    async def scenario() -> tuple[Received, Received]:
        config = ServerConfig(port=0, token="secret", ping_interval=None)
        server = CaptionServer(config, pipeline_factory=StalledPipeline)
        await server.start()
        encoder = await connect(f"{server.ws_url}/v1/streams/cam/ingest?token=secret")
        await encoder.send(json.dumps({**START, "sample_rate": 16_000, "channels": 1}))
        assert json.loads(await encoder.recv())["type"] == "started"
        viewer_ws, _ = await open_viewer(f"{server.ws_url}/v1/streams/cam/captions")
        viewer = asyncio.create_task(collect(viewer_ws))
        for _ in range(200):  # 200 x 0.1 s: more than the 64-chunk audio queue holds
            await encoder.send(b"\x00\x01" * 1600)
        encoder_got = asyncio.create_task(collect(encoder))
        await server.stop()
        return await encoder_got, await viewer

    encoder_got, viewer_got = run(scenario(), timeout=30)
    assert encoder_got.close_code == CloseCode.GOING_AWAY
    assert viewer_got.messages[-1]["type"] == "end" and viewer_got.messages[-1]["reason"] == "server shutting down"
