"""Fan-out, language filtering, resume and slow viewers on a real server with real clients.

Events are published straight into a live session (``open_session`` +
``publish``), which is what the pipeline runner does; the ingest test covers
the real pipeline.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

from server_testkit import Received, caption, collect, open_viewer, run, sentence, translation
from websockets.asyncio.client import connect

from livetrans.server.app import CaptionServer, ServerConfig
from livetrans.server.protocol import CloseCode


def config(tmp_path: Path | None = None, **kw: object) -> ServerConfig:
    return ServerConfig(port=0, token="secret", journal_dir=tmp_path, ping_interval=None, **kw)  # type: ignore[arg-type]


def publish_sentence(server: CaptionServer, n: int, targets: tuple[str, ...] = ("es", "fr")) -> None:
    """partial, final, sentence, then one translation per target, numbered from last_seq."""
    stream = server.streams["main"]
    server.publish(stream, caption("partial", n, stream.last_seq))
    server.publish(stream, caption("final", n, stream.last_seq + 1))
    server.publish(stream, sentence(n, stream.last_seq + 1))
    for lang in targets:
        server.publish(stream, translation(n, stream.last_seq + 1, lang))


def test_viewers_on_different_languages_get_their_events() -> None:
    """lang=es gets es translations only; source=1 adds source captions; no lang: source only."""

    async def scenario() -> dict[str, Received]:
        async with CaptionServer(config()) as server:
            server.open_session("main", "en", ("es", "fr"))
            base = f"{server.ws_url}/v1/streams/main/captions"
            urls = {"source": base, "es": f"{base}?lang=es", "es+src": f"{base}?lang=es&source=1",
                    "fr": f"{base}?lang=fr", "en": f"{base}?lang=en", "all": f"{base}?lang=*"}
            viewers = {k: await open_viewer(u) for k, u in urls.items()}
            hello = viewers["es"][1]
            assert hello["languages"] == ["en", "es", "fr"] and hello["source_lang"] == "en"
            tasks = {k: asyncio.create_task(collect(ws)) for k, (ws, _) in viewers.items()}
            for n in range(1, 4):
                publish_sentence(server, n)
            server.end_session("main", "input ended")
            return {k: await t for k, t in tasks.items()}

    got = run(scenario())
    for name, received in got.items():
        assert received.close_code == CloseCode.NORMAL, name
        assert received.messages[-1]["type"] == "end" and received.messages[-1]["last_seq"] == 12
    assert {m["lang"] for m in got["es"].of_type("translation")} == {"es"}
    assert got["es"].of_type("caption", "sentence") == []
    assert len(got["es"].of_type("translation")) == 3
    es_src = got["es+src"]
    assert [m["kind"] for m in es_src.of_type("caption")].count("final") == 3
    assert len(es_src.of_type("translation")) == 3 and len(es_src.of_type("sentence")) == 3
    assert {m["lang"] for m in got["fr"].of_type("translation")} == {"fr"}
    for source_viewer in ("source", "en"):
        assert got[source_viewer].of_type("translation") == []
        captions = got[source_viewer].of_type("caption")
        assert [m["id"] for m in captions if m["kind"] == "final"] == ["c1", "c2", "c3"]
        # A partial arrives only before its own final (or is superseded while queued).
        for before, after in zip(captions, captions[1:]):
            if before["kind"] == "partial":
                assert after["kind"] == "final" and after["id"] == before["id"]
    assert got["all"].durable_seqs() == list(range(1, 13))
    # Each viewer's durable seqs rise strictly: nothing twice, nothing out of order.
    for received in got.values():
        seqs = received.durable_seqs()
        assert seqs == sorted(set(seqs))


def test_unknown_language_is_refused_with_the_offer() -> None:
    async def scenario() -> Received:
        async with CaptionServer(config()) as server:
            server.open_session("main", "en", ("es",))
            async with connect(f"{server.ws_url}/v1/streams/main/captions?lang=de") as ws:
                return await collect(ws)

    got = run(scenario())
    assert got.close_code == CloseCode.BAD_REQUEST
    assert "en, es" in got.close_reason


def test_resume_with_since_gets_every_final_exactly_once(tmp_path: Path) -> None:
    """A viewer that drops after seq k and comes back with since=k misses nothing, twice nothing;
    with memory_events=3 the replay has to come from the journal."""

    async def scenario(memory_events: int) -> tuple[list[int], list[int]]:
        async with CaptionServer(config(tmp_path / str(memory_events), memory_events=memory_events)) as server:
            server.open_session("main", "en", ("es",))
            url = f"{server.ws_url}/v1/streams/main/captions?lang=es&source=1"
            ws, _ = await open_viewer(url)
            publish_sentence(server, 1, ("es",))
            first: list[int] = []
            while len(first) < 3:
                message = json.loads(await ws.recv())
                if message["type"] != "caption" or message["kind"] == "final":
                    first.append(message["seq"])
            await ws.close()
            for n in range(2, 6):  # published while the viewer is away
                publish_sentence(server, n, ("es",))
            ws2, hello = await open_viewer(f"{url}&since={first[-1]}")
            assert hello["last_seq"] == 15
            task = asyncio.create_task(collect(ws2))
            publish_sentence(server, 6, ("es",))  # live after the replay
            server.end_session("main", "input ended")
            return first, (await task).durable_seqs()

    for memory_events in (10_000, 3):
        first, second = run(scenario(memory_events))
        assert first == [1, 2, 3]
        assert second == list(range(4, 19)), memory_events


def test_resume_across_a_server_restart(tmp_path: Path) -> None:
    """A restarted server continues seq after its journal and replays the old session's events."""

    async def first_life() -> list[int]:
        async with CaptionServer(config(tmp_path)) as server:
            server.open_session("main", "en", ("es",))
            ws, _ = await open_viewer(f"{server.ws_url}/v1/streams/main/captions?lang=*")
            task = asyncio.create_task(collect(ws))
            for n in range(1, 4):
                publish_sentence(server, n, ("es",))
            server.end_session("main", "input ended")
            return (await task).durable_seqs()

    async def second_life(since: int) -> tuple[Received, Received, int]:
        async with CaptionServer(config(tmp_path)) as server:
            assert server.streams["main"].last_seq == 9 and not server.streams["main"].live
            url = f"{server.ws_url}/v1/streams/main/captions?lang=*"
            idle = await collect((await open_viewer(f"{url}&since={since}"))[0])
            seq_base = server.open_session("main", "en", ("es",)).last_seq
            ws, _ = await open_viewer(f"{url}&since={since}")
            task = asyncio.create_task(collect(ws))
            for n in range(4, 6):
                publish_sentence(server, n, ("es",))
            server.end_session("main", "input ended")
            return idle, await task, seq_base

    assert run(first_life()) == list(range(1, 10))
    idle, live, seq_base = run(second_life(since=4))
    assert seq_base == 9
    assert idle.durable_seqs() == list(range(5, 10)) and idle.messages[-1]["type"] == "end"
    assert live.durable_seqs() == list(range(5, 16))
    lines = [json.loads(x) for x in (tmp_path / "main.jsonl").read_text().splitlines()]
    journal_seqs = [r["seq"] for r in lines if r["type"] not in ("session", "end")]
    assert journal_seqs == list(range(1, 16))
    assert [r["type"] for r in lines].count("session") == 2


def _small_receive_buffer_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def test_a_slow_viewer_does_not_delay_the_others() -> None:
    """A viewer that stops reading is closed with 4000 and since=; the others get every event."""
    events = 600
    text = " " + "x" * 24_000  # ~14 MB in all: far more than loopback socket buffers hold  # big events, so the stalled socket's buffers fill quickly

    async def scenario() -> tuple[Received, Received, Received]:
        async with CaptionServer(config(max_durable_queue=20)) as server:
            stream = server.open_session("main", "en", ())
            url = f"{server.ws_url}/v1/streams/main/captions"
            slow, _ = await open_viewer(url, sock=_small_receive_buffer_socket(server.port), max_queue=1,
                                        max_size=None)
            fast_ws, _ = await open_viewer(url, max_size=None)
            fast = Received()
            for n in range(1, events + 1):
                server.publish(stream, caption("final", n, n, text=text))
                message = json.loads(await fast_ws.recv())  # the fast viewer keeps up, event by event
                fast.messages.append(message)
            assert server.metrics.value("livetrans_slow_viewer_closes_total", stream="main") == 1
            server.end_session("main", "input ended")
            fast = await collect(fast_ws, fast)
            slow_got = await collect(slow)
            resume_at = int(slow_got.close_reason.rsplit("since=", 1)[1])
            again = await collect((await open_viewer(f"{url}?since={resume_at}", max_size=None))[0])
            return fast, slow_got, again

    fast, slow, again = run(scenario())
    assert fast.durable_seqs() == list(range(1, events + 1))
    assert fast.close_code == CloseCode.NORMAL
    assert slow.close_code == CloseCode.VIEWER_TOO_SLOW
    assert "reconnect with since=" in slow.close_reason
    # What the slow viewer got plus its resume is everything, each exactly once.
    assert slow.durable_seqs() + again.durable_seqs() == list(range(1, events + 1))


def test_partials_newest_wins_for_a_backlogged_viewer() -> None:
    """Behind a stalled socket, a burst of partials collapses to the newest; finals all arrive."""
    big = " " + "y" * 16_000

    async def scenario() -> Received:
        async with CaptionServer(config(max_durable_queue=1000)) as server:
            stream = server.open_session("main", "en", ())
            url = f"{server.ws_url}/v1/streams/main/captions"
            ws, _ = await open_viewer(url, sock=_small_receive_buffer_socket(server.port), max_queue=1,
                                      max_size=None)
            for n in range(1, 401):  # ~6.4 MB: more than the socket buffers take, so a backlog forms
                server.publish(stream, caption("final", n, n, text=big))
            for k in range(50):
                server.publish(stream, caption("partial", 401, 400, text=f" draft{k}"))
            server.publish(stream, caption("partial", 402, 400, text=" next"))
            server.end_session("main", "input ended")
            return await collect(ws)

    got = run(scenario())
    assert got.durable_seqs() == list(range(1, 401))
    partials = [m["text"] for m in got.of_type("caption") if m["kind"] == "partial"]
    assert partials == [" next"]
    assert got.messages[-1]["type"] == "end"


def test_gap_is_announced_when_memory_no_longer_holds_the_events() -> None:
    """Without a journal, a resume older than the in-memory tail says what was lost, then goes on."""

    async def scenario() -> Received:
        async with CaptionServer(config(None, memory_events=3)) as server:
            stream = server.open_session("main", "en", ())
            for n in range(1, 10):
                server.publish(stream, caption("final", n, n))
            ws, _ = await open_viewer(f"{server.ws_url}/v1/streams/main/captions?since=2")
            task = asyncio.create_task(collect(ws))
            server.end_session("main", "input ended")
            return await task

    got = run(scenario())
    assert got.messages[0] == {"type": "gap", "after_seq": 2, "next_seq": 7}
    assert got.durable_seqs() == [7, 8, 9]
