"""Workers and edges on a real Redis, in one process: order, replay, leases, outages, bad data."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
from redis_testkit import RedisServer, free_port, redis_server  # noqa: F401
from server_testkit import Received, caption, closed_with, collect, open_viewer, run, sentence, translation
from websockets.asyncio.client import connect

from livetrans.server.app import CaptionServer, Role, ServerConfig
from livetrans.server.bus import StreamBusy
from livetrans.server.busfeed import events_key, live_channel
from livetrans.server.protocol import CloseCode


def bus_config(url: str, role: Role, **kwargs: Any) -> ServerConfig:
    return ServerConfig(port=0, token="tok", ping_interval=None, bus_url=url, role=role, lease_seconds=1.0, **kwargs)


@asynccontextmanager
async def cluster(url: str, *roles: Role, **kwargs: Any) -> AsyncIterator[list[CaptionServer]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(CaptionServer(bus_config(url, role, **kwargs))) for role in roles]


async def until(predicate: Any, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def written(worker: CaptionServer, name: str = "main") -> None:
    """Until everything the worker published for ``name`` is in Redis."""
    outbox = worker.producing[name].outlet.outbox  # type: ignore[union-attr]
    await until(lambda: not outbox.items)


def http_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def test_edges_serve_a_workers_events_in_order_with_replay_and_end(redis_server: RedisServer) -> None:
    async def scenario() -> tuple[Received, Received, Received, list[tuple[bytes, dict[bytes, bytes]]]]:
        async with cluster(redis_server.url, "worker", "edge", "edge") as (worker, edge1, edge2):
            await worker.claim_stream("main")
            stream = worker.open_session("main", "en", ("es",))
            for event in (caption("final", 1, 1), sentence(1, 2), translation(1, 3, "es")):
                worker.publish(stream, event)
            await written(worker)
            early, hello = await open_viewer(f"{edge1.ws_url}/v1/streams/main/captions?lang=*&since=0")
            assert hello["live"] and hello["source_lang"] == "en" and hello["languages"] == ["en", "es"]
            early_got = Received()
            early_task = asyncio.create_task(collect(early, early_got))
            await until(lambda: edge1.streams["main"].last_seq == 3)
            late, _ = await open_viewer(f"{edge2.ws_url}/v1/streams/main/captions?lang=es&since=1")
            late_task = asyncio.create_task(collect(late))
            source, _ = await open_viewer(f"{edge2.ws_url}/v1/streams/main/captions")
            source_task = asyncio.create_task(collect(source))
            worker.publish(stream, caption("partial", 2, 3))
            await until(lambda: bool(early_got.of_type("caption")[1:]))  # a final would replace it
            worker.publish(stream, caption("final", 2, 4))
            worker.publish(stream, translation(2, 5, "es"))
            worker.end_session("main", "input ended")
            await worker.producing["main"].outlet.close()  # type: ignore[union-attr]
            listing = await asyncio.to_thread(http_json, f"{edge1.base_url}/v1/streams")
            assert [(s["name"], s["live"], s["last_seq"]) for s in listing["streams"]] == [("main", False, 5)]
            got = await asyncio.wait_for(asyncio.gather(early_task, late_task, source_task), 10)
            entries = await asyncio.to_thread(redis_server.client().xrange, events_key("main"))
            return got[0], got[1], got[2], entries

    early, late, source, entries = run(scenario())
    assert early.durable_seqs() == [1, 2, 3, 4, 5]
    assert [m["kind"] for m in early.of_type("caption")] == ["final", "partial", "final"]
    assert early.messages[-1] == {"type": "end", "stream": "main", "last_seq": 5, "reason": "input ended"}
    assert [(m["type"], m["seq"]) for m in late.messages if m["type"] != "end"] == [("translation", 3),
                                                                                   ("translation", 5)]
    assert source.durable_seqs() == [4] and source.of_type("end")
    # Entry ids come from seq; markers take the next free sub-id after the event before them.
    assert [e[0] for e in entries] == [b"0-1", b"1-0", b"2-0", b"3-0", b"4-0", b"5-0", b"5-1"]
    assert json.loads(entries[0][1][b"d"])["type"] == "session"
    assert json.loads(entries[-1][1][b"d"]) == {"type": "end", "stream": "main", "last_seq": 5,
                                                 "reason": "input ended"}


def test_a_live_broadcast_cannot_be_claimed_by_a_second_worker(redis_server: RedisServer) -> None:
    async def scenario() -> float:
        async with cluster(redis_server.url, "worker", "worker") as (first, second):
            await first.claim_stream("main")
            first.open_session("main", "en", ())
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(StreamBusy):
                await second.claim_stream("main")
            refused_after = loop.time() - started
            first.end_session("main", "done")
            await first.producing["main"].outlet.close()  # type: ignore[union-attr]
            await second.claim_stream("main")  # given back at the end: free at once
            assert second.producing["main"].last_seq == 0
            return refused_after

    # The owner renews every third of its 1 s lease: seen within about that, not the lease's end.
    assert run(scenario()) < 1.0


def test_a_worker_holds_events_while_redis_is_away_and_writes_them_in_order(redis_server: RedisServer) -> None:
    async def scenario() -> tuple[Received, list[dict[str, Any]]]:
        async with cluster(redis_server.url, "worker", "edge") as (worker, edge):
            await worker.claim_stream("main")
            stream = worker.open_session("main", "en", ())
            worker.publish(stream, caption("final", 1, 1))
            await written(worker)
            viewer, _ = await open_viewer(f"{edge.ws_url}/v1/streams/main/captions?since=0")
            got = Received()
            received = asyncio.create_task(collect(viewer, got))
            await until(lambda: got.durable_seqs() == [1])
            await asyncio.to_thread(redis_server.kill)
            health: list[dict[str, Any]] = []
            for n in range(2, 6):  # captioning goes on meanwhile
                worker.publish(stream, caption("final", n, n))
                await asyncio.sleep(0.1)
            await until(lambda: not worker.bus.healthy and not edge.bus.healthy)  # type: ignore[union-attr]
            health.append(await asyncio.to_thread(http_json, f"{worker.base_url}/healthz"))
            health.append(await asyncio.to_thread(http_json, f"{edge.base_url}/healthz"))
            await asyncio.to_thread(redis_server.start)
            worker.end_session("main", "input ended")
            await worker.producing["main"].outlet.close()  # type: ignore[union-attr]
            health.append(await asyncio.to_thread(http_json, f"{worker.base_url}/healthz"))
            return await asyncio.wait_for(received, 20), health

    got, health = run(scenario())
    assert got.durable_seqs() == [1, 2, 3, 4, 5]
    assert got.messages[-1]["type"] == "end"
    assert [h["status"] for h in health] == ["degraded", "degraded", "ok"]
    assert health[0]["role"] == "worker" and health[0]["bus"] == "unreachable"


def test_malformed_data_on_the_bus_is_skipped_and_the_edge_goes_on(redis_server: RedisServer) -> None:
    async def scenario() -> tuple[Received, float]:
        async with cluster(redis_server.url, "worker", "edge") as (worker, edge):
            await worker.claim_stream("main")
            stream = worker.open_session("main", "en", ())
            worker.publish(stream, caption("final", 1, 1))
            await written(worker)
            viewer, _ = await open_viewer(f"{edge.ws_url}/v1/streams/main/captions?since=0")
            received = asyncio.create_task(collect(viewer))
            await until(lambda: edge.streams["main"].last_seq == 1)
            r = redis_server.client()
            r.xadd(events_key("main"), {"d": b"\xff not json"}, id="1-5")
            r.xadd(events_key("main"), {"d": b'{"type":"caption","kind":"final","seq":"x"}'}, id="1-6")
            r.xadd(events_key("main"), {"nothing": b"here"}, id="1-7")
            r.publish(live_channel("main"), b"[1, 2]")
            worker.publish(stream, caption("final", 2, 2))
            worker.end_session("main", "input ended")
            await worker.producing["main"].outlet.close()  # type: ignore[union-attr]
            got = await asyncio.wait_for(received, 10)
            await until(lambda: edge.metrics.value("livetrans_bus_malformed_total", stream="main") >= 4)
            return got, edge.metrics.value("livetrans_bus_malformed_total", stream="main")

    got, malformed = run(scenario())
    assert got.durable_seqs() == [1, 2] and got.messages[-1]["type"] == "end"
    assert malformed == 4


def test_a_replay_older_than_retention_starts_with_a_gap(redis_server: RedisServer) -> None:
    async def scenario() -> tuple[Received, int]:
        async with cluster(redis_server.url, "worker", bus_retention_events=50) as (worker,):
            await worker.claim_stream("main")
            stream = worker.open_session("main", "en", ())
            for n in range(1, 301):
                worker.publish(stream, caption("final", n, n))
            worker.end_session("main", "input ended")
            await worker.producing["main"].outlet.close()  # type: ignore[union-attr]
        length = int(redis_server.client().xlen(events_key("main")))
        first = int(redis_server.client().xrange(events_key("main"), count=1)[0][0].split(b"-")[0])
        async with cluster(redis_server.url, "edge") as (edge,):
            async with connect(f"{edge.ws_url}/v1/streams/main/captions?since=0") as ws:
                got = await collect(ws)
        return got, first if length < 300 else -1

    got, first = run(scenario())
    assert first > 1, "retention by length trimmed nothing"
    assert got.messages[1] == {"type": "gap", "after_seq": 0, "next_seq": first}
    assert got.durable_seqs() == list(range(first, 301))


def test_each_role_turns_away_the_other_roles_connections(redis_server: RedisServer) -> None:
    async def scenario() -> tuple[Received, Received, Received]:
        async with cluster(redis_server.url, "worker", "edge") as (worker, edge):
            viewer = await closed_with(f"{worker.ws_url}/v1/streams/main/captions")
            encoder = await closed_with(f"{edge.ws_url}/v1/streams/main/ingest?token=tok")
            unknown = await closed_with(f"{edge.ws_url}/v1/streams/nothing/captions")
            return viewer, encoder, unknown

    viewer, encoder, unknown = run(scenario())
    assert viewer.close_code == CloseCode.WRONG_ROLE and "edge" in viewer.close_reason
    assert encoder.close_code == CloseCode.WRONG_ROLE and "worker" in encoder.close_reason
    assert unknown.close_code == CloseCode.UNKNOWN_STREAM


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "livetrans.cli", "serve", "--port", "0", *args],
                          capture_output=True, text=True, timeout=60)


def test_serve_refuses_bad_bus_options_in_one_line() -> None:
    unreachable = serve("--bus", f"redis://127.0.0.1:{free_port()}/0", "--role", "edge")
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith("livetrans: error: cannot reach Redis at redis://127.0.0.1:")
    assert len(unreachable.stderr.strip().splitlines()) == 1
    no_bus = serve("--role", "worker")
    assert no_bus.returncode == 1 and "--role worker needs --bus" in no_bus.stderr
    assert len(no_bus.stderr.strip().splitlines()) == 1


def test_every_edge_serves_the_same_hls_playlist_for_a_bus_stream(redis_server: RedisServer) -> None:
    """One edge's packager follows the stream live, the other first hears of it afterwards
    and replays the session from the bus: same playlists, same segments."""
    from livetrans.types import SentenceEvent, WatermarkEvent, Word

    def get(url: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    async def scenario() -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        async with cluster(redis_server.url, "worker", "edge", "edge") as (worker, early, late):
            await worker.claim_stream("main")
            stream = worker.open_session("main", "en", (), pts_offset=10.0)
            await written(worker)
            assert (await asyncio.to_thread(get, f"{early.base_url}/hls/main/source.m3u8"))[0] == 200
            seq = 0
            for n, (start, end, text) in enumerate([(0.5, 3.1, "Good evening and welcome."),
                                                    (5.2, 6.0, "Today we sell lamps."),
                                                    (8.4, 11.0, "Lamps for every room.")]):
                words = (Word(start, end, " " + text),)
                worker.publish(stream, _final(n, seq + 1, start, end, text))
                worker.publish(stream, SentenceEvent(f"s{n}", start, end, " " + text, "en", words, (f"c{n}",),
                                                     seq + 2, end + 1.0))
                seq += 2
                worker.publish(stream, WatermarkEvent(time=end + 1.0, seq=seq, emitted_at=end + 1.2))
            worker.end_session("main", "input ended")
            await written(worker)
            await until(lambda: not early.streams["main"].live)
            answers = []
            for edge in (early, late):
                playlist = await asyncio.to_thread(get, f"{edge.base_url}/hls/main/source.m3u8")
                segments = [line for line in playlist[1].splitlines() if line and not line.startswith("#")]
                answers.append([playlist] + [await asyncio.to_thread(get, f"{edge.base_url}/hls/main/{s}")
                                             for s in segments])
            return answers[0], answers[1]

    early, late = run(scenario())
    assert early == late
    assert early[0][0] == 200 and "#EXT-X-ENDLIST" in early[0][1]
    assert all(status == 200 for status, _ in early) and len(early) >= 5
    assert "X-TIMESTAMP-MAP=MPEGTS:900000" in early[1][1]
    assert "Lamps for every room." in "".join(text for _, text in early[1:])


def _final(n: int, seq: int, start: float, end: float, text: str) -> Any:
    from livetrans.types import CaptionEvent, Word

    return CaptionEvent("final", f"c{n}", start, end, " " + text, "en", (Word(start, end, " " + text),), f"s{n}",
                        seq, end + 1.0)


def test_a_lease_that_ran_out_is_taken_again_but_one_taken_by_another_worker_stops_the_stream(
    redis_server: RedisServer,
) -> None:
    from livetrans.server.busfeed import lease_key

    async def scenario() -> tuple[list[bytes], bool, bool]:
        async with cluster(redis_server.url, "worker") as (worker,):
            await worker.claim_stream("main")
            stream = worker.open_session("main", "en", ())
            link = stream.outlet
            r = redis_server.client()
            r.delete(lease_key("main"))  # ran out while the worker was starved of CPU, say
            worker.publish(stream, caption("final", 1, 1))
            await written(worker)
            kept = not link.lost  # type: ignore[union-attr]
            r.set(lease_key("main"), b"another-worker")  # a partition: someone took it over
            worker.publish(stream, caption("final", 2, 2))
            await until(lambda: link.lost)  # type: ignore[union-attr]
            ids = [e[0] for e in r.xrange(events_key("main"))]
            return ids, kept, r.get(lease_key("main")) == b"another-worker"

    ids, kept, untouched = run(scenario())
    assert kept and untouched
    assert ids == [b"0-1", b"1-0"]  # seq 2 was never written after the lease was lost


def test_a_sentinel_failover_loses_no_replicated_event(tmp_path: Any) -> None:
    from redis_testkit import SentinelServer

    primary = RedisServer(tmp_path / "primary")
    (tmp_path / "primary").mkdir()
    (tmp_path / "replica").mkdir()
    primary.start()
    replica = RedisServer(tmp_path / "replica", extra=("--replicaof", "127.0.0.1", str(primary.port)))
    replica.start()
    sentinel = SentinelServer(tmp_path / "sentinel", primary)
    try:
        sentinel.start()

        async def scenario() -> Received:
            async with cluster(sentinel.url, "worker", "edge") as (worker, edge):
                await worker.claim_stream("main")
                stream = worker.open_session("main", "en", ())
                for n in (1, 2, 3):
                    worker.publish(stream, caption("final", n, n))
                await written(worker)
                got = Received()
                viewer, _ = await open_viewer(f"{edge.ws_url}/v1/streams/main/captions?since=0")
                received = asyncio.create_task(collect(viewer, got))
                await until(lambda: got.durable_seqs() == [1, 2, 3])
                assert await asyncio.to_thread(primary.client().wait, 1, 5000) == 1  # on the replica too
                await asyncio.to_thread(primary.kill)
                for n in (4, 5, 6):  # the worker holds these until Sentinel has promoted the replica
                    worker.publish(stream, caption("final", n, n))
                    await asyncio.sleep(0.2)
                await until(lambda: sentinel.primary_port() == replica.port, timeout=20)
                worker.end_session("main", "input ended")
                await worker.producing["main"].outlet.close()  # type: ignore[union-attr]
                return await asyncio.wait_for(received, 20)

        got = run(scenario())
    finally:
        sentinel.kill()
        replica.kill()
        primary.kill()
    assert got.durable_seqs() == [1, 2, 3, 4, 5, 6] and got.messages[-1]["type"] == "end"
