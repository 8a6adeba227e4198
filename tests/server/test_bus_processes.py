"""The scaled-out deployment as separate processes on loopback, with kill -9 failures.

Redis, two workers and two edges (``livetrans serve --bus ... --role ...``); an
encoder pushes real English speech at real time through the ingest protocol;
viewers are spread over both edges with ``since``. Mid-stream one edge is
killed (its viewers move to the other), then the worker (the encoder moves to
the other worker, which takes the broadcast over when the lease runs out),
then Redis itself (restarted with its AOF). Every viewer must end with exactly
the durable events Redis holds, each once, and seq must go on without repeats.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from redis_testkit import RedisServer, redis_server  # noqa: F401
from server_testkit import run
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from livetrans.server.busfeed import events_key, parse_entry_id

pytestmark = pytest.mark.slow

SPEECH = Path(__file__).resolve().parents[2] / "samples" / "speech" / "en"
CLIPS = ("jfk_inaugural_1961.flac", "librispeech_1995-1837-0001.wav", "fleurs-en-000.ogg")
RATE = 16_000  # Hz
FRAME_SECONDS = 0.1
LEASE_SECONDS = 2


def speech_pcm() -> bytes:
    """About 32 s of English from three speakers, 16 kHz mono s16le, with short pauses."""
    parts = []
    for name in CLIPS:
        audio, rate = sf.read(SPEECH / name, dtype="float32", always_2d=True)
        mono = audio.mean(axis=1)
        t_out = np.arange(int(len(mono) * RATE / rate)) / RATE
        parts += [np.interp(t_out, np.arange(len(mono)) / rate, mono), np.zeros(int(0.8 * RATE))]
    return (np.clip(np.concatenate(parts), -1, 1) * 32767).astype("<i2").tobytes()


class Serve:
    """One ``livetrans serve`` process; its port is read from the line it prints."""

    def __init__(self, bus: str, role: str, *extra: str) -> None:
        self.role = role
        self.process = subprocess.Popen(
            [sys.executable, "-m", "livetrans.cli", "serve", "--bus", bus, "--role", role, "--port", "0",
             "--token", "tok", "--lease-seconds", str(LEASE_SECONDS), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.port: int | None = None
        self.lines: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            found = re.match(r"livetrans server on http://127\.0\.0\.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                self._ready.set()
        self._ready.set()

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def wait_ready(self, timeout: float = 120.0) -> int:
        if not self._ready.wait(timeout) or self.port is None:
            raise RuntimeError(f"{self.role} did not start: {''.join(self.lines)[-2000:]}")
        return self.port

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@dataclass
class Viewer:
    """A viewer that reconnects to the next edge with ``since`` when its connection drops."""

    name: str
    lang: str = ""
    durable: list[dict[str, Any]] = field(default_factory=list)
    reconnects: int = 0
    ended: bool = False

    @property
    def last_seq(self) -> int:
        return self.durable[-1]["seq"] if self.durable else 0

    async def watch(self, edges: list[Serve], first: int, deadline: float) -> None:
        index = first
        while not self.ended and time.monotonic() < deadline:
            edge = edges[index % len(edges)]
            if edge.process.poll() is not None:
                index += 1
                continue
            url = f"{edge.ws}/v1/streams/main/captions?since={self.last_seq}&lang={self.lang}"
            try:
                async with connect(url, open_timeout=5, ping_interval=None) as ws:
                    async for raw in ws:
                        message = json.loads(raw)
                        if message["type"] in ("caption", "sentence", "translation") and \
                                message.get("kind") != "partial":
                            self.durable.append(message)
                        elif message["type"] == "end":
                            self.ended = True
                if ws.close_code == 4404:  # not on the bus yet
                    await asyncio.sleep(0.2)
                    continue
            except (TimeoutError, ConnectionClosed, OSError, InvalidStatus):
                pass
            if not self.ended:
                self.reconnects += 1
                index += 1  # this edge went away: the next one
                await asyncio.sleep(0.1)


@dataclass
class Encoder:
    pcm: bytes
    sent: int = 0  # bytes of PCM sent so far
    sessions: list[dict[str, Any]] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    end: dict[str, Any] | None = None
    sent_at_loss: float | None = None  # audio seconds sent when its worker died

    async def push(self, workers: list[Serve], deadline: float) -> None:
        frame = int(RATE * FRAME_SECONDS) * 2
        index = 0
        while time.monotonic() < deadline:
            worker = workers[index % len(workers)]
            try:
                async with connect(f"{worker.ws}/v1/streams/main/ingest?token=tok", open_timeout=5) as ws:
                    await ws.send(json.dumps({"type": "start", "sample_rate": RATE, "language": "en"}))
                    started = json.loads(await ws.recv())
                    self.sessions.append(started)
                    next_at = time.monotonic()
                    while self.sent < len(self.pcm):
                        await ws.send(self.pcm[self.sent : self.sent + frame])
                        self.sent += frame
                        next_at += FRAME_SECONDS
                        await asyncio.sleep(max(0.0, next_at - time.monotonic()))  # real time
                    await ws.send(json.dumps({"type": "end"}))
                    async for raw in ws:
                        message = json.loads(raw)
                        if message["type"] == "end":
                            self.end = message
                    return
            except ConnectionClosed as e:
                if e.rcvd is not None and e.rcvd.code == 4409:  # the dead worker's lease still runs
                    self.refused.append(4409)
                elif self.sent_at_loss is None:
                    self.sent_at_loss = self.sent / 2 / RATE
                    index += 1
            except OSError:
                index += 1
            await asyncio.sleep(0.2)


def test_viewers_and_the_encoder_survive_kill_9_of_an_edge_a_worker_and_redis(
    redis_server: RedisServer,
) -> None:
    bus = redis_server.url
    workers = [Serve(bus, "worker", "--model", "tiny.en", "--language", "en") for _ in range(2)]
    edges = [Serve(bus, "edge") for _ in range(2)]
    processes = workers + edges
    try:
        for p in processes:
            p.wait_ready()
        encoder = Encoder(speech_pcm())
        viewers = [Viewer(f"v{i}") for i in range(4)]
        r = redis_server.client()

        async def scenario() -> tuple[list[bytes], float]:
            deadline = time.monotonic() + 150
            pushing = asyncio.create_task(encoder.push(workers, deadline))
            while not encoder.sessions:
                await asyncio.sleep(0.05)
            watching = [asyncio.create_task(v.watch(edges, i, deadline)) for i, v in enumerate(viewers)]
            while not any(v.durable for v in viewers):  # the first final reached a viewer
                await asyncio.sleep(0.05)
            edges[0].kill()
            while encoder.sent < 14 * RATE * 2:
                await asyncio.sleep(0.05)
            workers[0].kill()
            lost_from = await asyncio.to_thread(last_final_end, r)
            while len(encoder.sessions) < 2 or encoder.sent < 22 * RATE * 2:
                await asyncio.sleep(0.05)
            acknowledged = [e[0] for e in await asyncio.to_thread(r.xrange, events_key("main"))]
            await asyncio.to_thread(redis_server.kill)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(redis_server.start)
            await pushing
            await asyncio.wait_for(asyncio.gather(*watching), max(1.0, deadline - time.monotonic()))
            return acknowledged, lost_from

        acknowledged, lost_from = run(scenario(), timeout=180)
        entries = r.xrange(events_key("main"))
    finally:
        for p in processes:
            p.kill()
        logs = "".join(line for p in processes for line in p.lines)

    ids = [e[0] for e in entries]
    assert set(acknowledged) <= set(ids), "Redis lost acknowledged entries in its restart"
    durable = [parse_entry_id(i)[0] for i in ids if parse_entry_id(i)[1] == 0]
    assert encoder.end is not None, logs[-3000:]
    assert durable == list(range(1, encoder.end["last_seq"] + 1)), "seq must go on without gaps or repeats"
    markers = [json.loads(e[1][b"d"]) for e in entries if parse_entry_id(e[0])[1] != 0]
    sessions = [m for m in markers if m["type"] == "session"]
    assert len(sessions) == 2 and [m["type"] for m in markers][-1] == "end"
    taken_over_at = next(parse_entry_id(e[0])[0] for e in entries if json.loads(e[1][b"d"]) == sessions[1])
    assert sessions[1]["seq_base"] == taken_over_at == encoder.sessions[-1]["seq_base"]
    for viewer in viewers:
        assert viewer.ended, viewer.name
        assert [m["seq"] for m in viewer.durable] == durable, viewer.name
    assert viewers[0].reconnects >= 1 and viewers[2].reconnects >= 1  # the killed edge's viewers moved
    text = " ".join(m["text"] for m in viewers[1].durable if m["type"] == "caption").lower()
    assert "americans" in text and "country" in text, text
    assert encoder.sent_at_loss is not None
    print(f"\naudio in flight lost at the worker's kill -9: {encoder.sent_at_loss - lost_from:.2f} s "
          f"(sent {encoder.sent_at_loss:.2f} s, last final in Redis ended at {lost_from:.2f} s); "
          f"encoder refused {len(encoder.refused)} times while the lease ran out")


def last_final_end(r: Any) -> float:
    """The audio time the last final caption in Redis ends at."""
    for _id, fields in r.xrevrange(events_key("main"), count=50):
        data = json.loads(fields[b"d"])
        if data.get("type") == "caption" and data.get("kind") == "final":
            return float(data["end"])
    return 0.0
