"""The bus's pure ends: the worker's outbox and the edge's mirror feed (no Redis)."""

from __future__ import annotations

import json

import pytest
from server_testkit import caption, sentence, translation

from livetrans.core.events import event_to_dict
from livetrans.server.busfeed import MalformedEntry, MirrorFeed, Outbox, stream_of_channel
from livetrans.server.hub import StreamState, Viewer
from livetrans.server.protocol import ViewerRequest
from livetrans.server.viewer_queue import ViewerQueue
from livetrans.types import Event


def wire(event: Event) -> bytes:
    return json.dumps(event_to_dict(event), separators=(",", ":")).encode()


def test_outbox_ids_follow_seq_and_markers_take_the_next_sub_id() -> None:
    box = Outbox(top=(7, 2))  # a broadcast taken over after seq 7 and two markers
    box.marker({"type": "session"})
    box.durable(8, b"e8")
    box.partial(b"p1")
    box.partial(b"p2")  # only the newest partial waits
    box.durable(9, b"e9")
    box.marker({"type": "end"})
    assert [(p.kind, p.entry_id) for p in box.items] == [
        ("marker", "7-3"), ("durable", "8-0"), ("partial", ""), ("durable", "9-0"), ("marker", "9-1")]
    assert [p.payload for p in box.items if p.kind == "partial"] == [b"p2"]
    assert [p.entry_id for p in box.batch()] == ["7-3", "8-0"]  # durables up to the partial, in order
    box.done(2)
    assert [p.kind for p in box.batch()] == ["partial"]


def test_a_full_outbox_drops_partials_first_then_the_oldest_durable() -> None:
    box = Outbox(capacity=3)
    box.durable(1, b"1")
    box.partial(b"p")
    box.durable(2, b"2")
    box.durable(3, b"3")
    assert [p.seq for p in box.items] == [1, 2, 3] and box.dropped == 0
    box.durable(4, b"4")
    assert [p.seq for p in box.items] == [2, 3, 4] and box.dropped == 1


def mirror(last_seq: int = 0) -> tuple[MirrorFeed, Viewer]:
    state = StreamState("main", live=True)
    state.last_seq = last_seq
    viewer = Viewer(1, "main", ViewerRequest("*", False, None), ViewerQueue(100), wake=lambda: None)
    state.add_viewer(viewer)
    return MirrorFeed(state, last_entry=(last_seq, 0)), viewer


def queued(viewer: Viewer) -> list[tuple[str, int]]:
    return [(json.loads(i.payload).get("kind", json.loads(i.payload)["type"]), i.seq) for i in viewer.queue.take()]


def test_a_partial_ahead_of_the_durables_waits_for_them() -> None:
    feed, viewer = mirror()
    assert feed.partial(wire(caption("partial", 2, 1)))  # published after seq 1, which has not arrived
    assert queued(viewer) == []
    feed.entry(b"1-0", wire(sentence(1, 1)))
    assert queued(viewer) == [("sentence", 1), ("partial", 1)]


def test_a_partial_a_final_already_replaced_is_dropped() -> None:
    feed, viewer = mirror()
    feed.entry(b"1-0", wire(caption("final", 1, 1)))
    feed.entry(b"2-0", wire(translation(1, 2, "es")))
    queued(viewer)
    assert not feed.partial(wire(caption("partial", 1, 0)))  # sent before final 1
    assert not feed.partial(wire(translation(1, 1, "es", kind="partial")))  # its final is here
    assert feed.partial(wire(caption("partial", 2, 2)))
    assert queued(viewer) == [("partial", 2)]


def test_entries_are_applied_once_and_markers_drive_the_session() -> None:
    feed, viewer = mirror(last_seq=3)
    assert feed.entry(b"3-0", wire(caption("final", 3, 3))) is None  # before the mirror began
    feed.entry(b"3-1", json.dumps({"type": "end", "stream": "main", "last_seq": 3, "reason": "done"}).encode())
    assert not feed.stream.live
    feed.entry(b"3-2", json.dumps({"type": "session", "source_lang": "es", "languages": ["es"],
                                    "started_at": 5.0}).encode())
    assert feed.stream.live and feed.stream.source_lang == "es" and feed.stream.languages == ["es"]
    feed.entry(b"4-0", wire(caption("final", 4, 4)))
    assert feed.entry(b"4-0", wire(caption("final", 4, 4))) is None
    assert feed.stream.last_seq == 4


@pytest.mark.parametrize("entry_id, payload", [
    (b"5-0", b"\xff"),
    (b"5-0", b"[1]"),
    (b"5-0", b'{"type":"caption","kind":"final","seq":4}'),  # seq and id disagree
    (b"5-0", b'{"type":"caption","kind":"partial","seq":5}'),  # a partial in the stream
    (b"x-y", b"{}"),
])
def test_malformed_bus_data_is_refused(entry_id: bytes, payload: bytes) -> None:
    feed, _ = mirror(last_seq=4)
    with pytest.raises(MalformedEntry):
        feed.entry(entry_id, payload)


def test_channel_names_map_back_to_streams() -> None:
    assert stream_of_channel("livetrans:{a.b-c}:live") == "a.b-c"
    assert stream_of_channel("other:{a}:live") is None and stream_of_channel("livetrans:{a}:meta") is None
