"""The server's pure parts: queue policy, language filter, message parsing, journal, metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livetrans.errors import ProtocolError
from livetrans.server.journal import StreamJournal
from livetrans.server.protocol import (
    ViewerRequest,
    bearer_token,
    close_reason,
    parse_ingest_start,
    parse_json_message,
    parse_route,
    parse_viewer_query,
    pcm_problem,
    viewer_wants,
)
from livetrans.server.viewer_queue import QueueItem, ViewerQueue


def _final(seq: int, cid: str = "") -> QueueItem:
    return QueueItem(f"f{seq}".encode(), seq=seq, durable=True, caption_id=cid)


def _partial(text: str, cid: str = "c1") -> QueueItem:
    return QueueItem(text.encode(), durable=False, caption_id=cid)


def test_queue_keeps_only_the_newest_partial_in_order() -> None:
    q = ViewerQueue(max_durable=10)
    q.offer(_final(1))
    q.offer(_partial("a"))
    q.offer(_partial("b"))
    q.offer(_final(2, cid="c9"))
    q.offer(_partial("c"))
    assert [i.payload for i in q.take()] == [b"f1", b"f2", b"c"]
    assert q.dropped_partials == 2 and len(q) == 0


def test_queue_final_supersedes_its_partial() -> None:
    q = ViewerQueue(max_durable=10)
    q.offer(_partial("draft", cid="c3"))
    q.offer(_final(3, cid="c3"))
    assert [i.payload for i in q.take()] == [b"f3"]


def test_queue_keeps_a_partial_per_track_captions_and_each_translation_language() -> None:
    q = ViewerQueue(max_durable=10)
    q.offer(_partial("caption tail", cid="c4"))
    q.offer(QueueItem(b"es draft 1", caption_id="s2", track="translation:es"))
    q.offer(QueueItem(b"fr draft", caption_id="s2", track="translation:fr"))
    q.offer(QueueItem(b"es draft 2", caption_id="s2", track="translation:es"))  # replaces es draft 1
    assert q.dropped_partials == 1
    q.offer(QueueItem(b"es final", seq=7, durable=True, caption_id="s2", track="translation:es"))
    # The Spanish final supersedes the Spanish draft only; the French draft and the caption stay.
    assert [i.payload for i in q.take()] == [b"caption tail", b"fr draft", b"es final"]


def test_queue_overflows_on_durables_never_drops_them() -> None:
    q = ViewerQueue(max_durable=3)
    assert all(q.offer(_final(n)) for n in range(1, 4))
    assert q.offer(_partial("p"))  # partials never overflow
    assert not q.offer(_final(4))
    assert q.overflowed and not q.offer(_final(5))
    assert [i.seq for i in q.take() if i.durable] == [1, 2, 3]
    assert q.offer(QueueItem(b"end", control=True)) is False  # an overflowed viewer is being closed


@pytest.mark.parametrize(
    "request_, event_type, lang, wanted",
    [
        (ViewerRequest(None, False, None), "caption", "en", True),
        (ViewerRequest(None, False, None), "translation", "es", False),
        (ViewerRequest("es", False, None), "caption", "en", False),
        (ViewerRequest("es", False, None), "translation", "es", True),
        (ViewerRequest("es", False, None), "translation", "fr", False),
        (ViewerRequest("es", True, None), "sentence", "en", True),
        (ViewerRequest("es", False, None), "caption", "es", True),  # the speaker switched to Spanish
        (ViewerRequest("*", False, None), "translation", "fr", True),
    ],
)
def test_language_filter(request_: ViewerRequest, event_type: str, lang: str, wanted: bool) -> None:
    assert viewer_wants(request_, event_type, lang) is wanted


def test_viewer_query_parsing() -> None:
    assert parse_viewer_query({"lang": "es", "since": "12", "source": "1"}) == ViewerRequest("es", True, 12)
    assert parse_viewer_query({}) == ViewerRequest(None, False, None)
    assert parse_viewer_query({"lang": "all"}).lang == "*"
    for bad in ({"since": "-1"}, {"since": "x"}, {"source": "maybe"}, {"lang": "Spanish"}):
        with pytest.raises(ProtocolError):
            parse_viewer_query(bad)


def test_routes_and_tokens() -> None:
    r = parse_route("/v1/streams/main/captions?lang=es&lang=fr")
    assert (r.kind, r.stream, dict(r.query or {})) == ("captions", "main", {"lang": "fr"})
    assert parse_route("/v1/streams/a%20b/ingest").stream == "a b"
    assert parse_route("/overlay/?x=1").path == "/overlay"
    assert parse_route("/v2/x").kind == "unknown"
    assert bearer_token({"Authorization": "Bearer abc"}, {}) == "abc"
    assert bearer_token({"Authorization": "Basic abc"}, {"token": "q"}) == "q"
    assert bearer_token({}, {}) is None


def test_start_message_validation() -> None:
    start = parse_ingest_start({"type": "start", "sample_rate": 44100, "channels": 2, "format": "f32le",
                                "language": "auto", "targets": ["es"]})
    assert (start.sample_rate, start.channels, start.sample_format, start.language, start.targets) == (
        44100, 2, "f32le", None, ("es",))
    for bad in ({"sample_rate": 100}, {"sample_rate": 16000, "channels": 0},
                {"sample_rate": 16000, "format": "u8"}, {"sample_rate": 16000, "targets": "es"},
                {"sample_rate": True}):
        with pytest.raises(ProtocolError):
            parse_ingest_start({"type": "start", **bad})
    with pytest.raises(ProtocolError, match="malformed JSON"):
        parse_json_message("{")
    with pytest.raises(ProtocolError, match="type"):
        parse_json_message("[1]")


def test_pcm_sanity_check_spots_integers_sent_as_floats() -> None:
    import numpy as np

    f32 = parse_ingest_start({"type": "start", "sample_rate": 16000, "format": "f32le"})
    good = (np.sin(np.arange(1600) / 5) * 0.5).astype("<f4").tobytes()
    assert pcm_problem(f32, good, 0) is None
    assert pcm_problem(f32, good[2:], 2) is None  # a message that starts mid-sample
    ints = (np.sin(np.arange(1600) / 5) * 20000).astype("<i2").tobytes()
    assert pcm_problem(f32, ints, 0) is not None
    assert pcm_problem(f32, b"", 0) is not None


def test_close_reason_fits_the_frame() -> None:
    assert len(close_reason("é" * 200).encode()) <= 123
    assert close_reason("short") == "short"


def test_journal_cuts_a_torn_line_and_continues_seq(tmp_path: Path) -> None:
    path = tmp_path / "main.jsonl"
    journal = StreamJournal(path, fsync_interval=0)
    journal.append_record({"type": "session", "stream": "main", "seq_base": 0, "source_lang": "en",
                           "languages": ["en", "es"]})
    for seq in (1, 2, 3):
        journal.append_record({"type": "caption", "kind": "final", "seq": seq, "lang": "en"})
    journal.close()
    with open(path, "ab") as f:
        f.write(b'{"type":"caption","seq":4,"te')  # power cut mid-write
    reopened = StreamJournal(path)
    state = reopened.read_state()
    assert (state.last_seq, state.source_lang, state.languages) == (3, "en", ["en", "es"])
    assert [seq for seq, _, _ in reopened.read_since(1, 3)] == [2, 3]
    reopened.append_record({"type": "caption", "kind": "final", "seq": 4, "lang": "en"})
    reopened.close()
    assert [json.loads(x).get("seq") for x in path.read_text().splitlines()] == [None, 1, 2, 3, 4]


