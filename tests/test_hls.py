"""The HLS subtitle packager (core/hls.py): hand-built events in, playlists and segments out."""

from __future__ import annotations

import m3u8
import pytest
import webvtt

from livetrans.core.events import event_to_dict
from livetrans.core.hls import SOURCE, HlsOptions, HlsPackager
from livetrans.core.hls_master import SubtitleMedia, add_subtitles
from livetrans.errors import ProtocolError
from livetrans.types import CaptionEvent, SentenceEvent, TranslationEvent, WatermarkEvent, Word

SESSION = {"type": "session", "stream": "show", "seq_base": 0, "source_lang": "en", "languages": ["en", "es"],
           "started_at": 1700000000.0, "pts_offset": 10.0}
END = {"type": "end", "stream": "show", "last_seq": 9, "reason": "input ended"}


def sentence_events(n: int, start: float, end: float, text: str, seq: int) -> list[dict]:
    words = tuple(Word(start + (end - start) * i / len(text.split()), start + (end - start) * (i + 1) / len(text.split()),
                       " " + w) for i, w in enumerate(text.split()))
    final = CaptionEvent("final", f"c{n}", start, end, " " + text, "en", words, f"s{n}", seq, end + 1.0)
    sent = SentenceEvent(f"s{n}", start, end, " " + text, "en", words, (f"c{n}",), seq + 1, end + 1.0)
    return [event_to_dict(final), event_to_dict(sent)]


def translation_event(n: int, start: float, end: float, text: str, seq: int) -> dict:
    return event_to_dict(TranslationEvent(f"s{n}", "es", "en", text, start, end, "final", seq, end + 1.5))


def watermark(t: float, seq: int) -> dict:
    return event_to_dict(WatermarkEvent(time=t, seq=seq, emitted_at=t + 0.3))


def broadcast() -> list[dict]:
    events: list[dict] = [SESSION]
    events += sentence_events(1, 0.5, 3.1, "Good evening and welcome to the show.", 1)
    events.append(translation_event(1, 0.5, 3.1, "Buenas noches y bienvenidos al programa.", 3))
    events.append(watermark(4.0, 3))
    events += sentence_events(2, 5.2, 6.0, "Today we sell lamps.", 4)
    events.append(translation_event(2, 5.2, 6.0, "Hoy vendemos lámparas.", 6))
    events.append(watermark(9.0, 6))
    events.append(watermark(12.5, 6))
    events.append(END)
    return events


def seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def feed_all(events: list[dict], options: HlsOptions | None = None) -> HlsPackager:
    packager = HlsPackager("show", options)
    for event in events:
        packager.feed(event, event["type"] != "watermark")
    return packager


def test_two_packagers_fed_the_same_events_serve_identical_bytes() -> None:
    a, b = feed_all(broadcast()), feed_all(broadcast())
    for name in (SOURCE, "es"):
        assert a.playlist(name) == b.playlist(name)
        assert [s.text for s in a.segments(name)] == [s.text for s in b.segments(name)]
        assert a.segments(name)  # not trivially equal


def test_playlist_parses_with_m3u8_and_segments_with_webvtt(tmp_path) -> None:
    packager = feed_all(broadcast())
    text = packager.playlist(SOURCE)
    playlist = m3u8.loads(text)
    assert playlist.target_duration == 2 and playlist.media_sequence == 0 and playlist.is_endlist
    assert [round(s.duration, 3) for s in playlist.segments] == [2.0] * 6 + [0.5]  # audio ended at 12.5 s
    assert all(s.uri.startswith("source/") for s in playlist.segments)
    texts = []
    for k, segment in enumerate(packager.segments(SOURCE)):
        path = tmp_path / f"{k}.vtt"
        path.write_text(segment.text, "utf-8")
        assert "X-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000" in segment.text  # 10 s * 90 kHz
        for cue in webvtt.read(str(path)):
            assert seconds(cue.start) < segment.end and seconds(cue.end) > segment.start
            texts.append((seconds(cue.start), cue.text))
    joined = " ".join(dict.fromkeys(t for _, t in texts)).replace("\n", " ")
    assert "Good evening and welcome to the show." in joined and "Today we sell lamps." in joined


def test_a_cue_spanning_two_segments_is_in_both_with_the_same_times() -> None:
    packager = feed_all(broadcast())
    segments = packager.segments(SOURCE)
    first_cue = segments[0].text.split("\n\n")[1].split("\n")[0]
    assert first_cue.startswith("00:00:00.500 --> ")
    assert first_cue in segments[1].text  # 0.5 s .. past 2 s: in segments 0 and 1


def test_a_segment_waits_until_its_cues_are_final_and_a_watermark_closes_silence() -> None:
    packager = HlsPackager("show")
    events = broadcast()
    published = []
    for event in events[:4]:  # the session, the final, the sentence of 0.5-3.1 s, its translation
        packager.feed(event)
    # The sentence's last cue is held (its end may still be shortened by the next sentence).
    published.append(len(packager.segments(SOURCE)))
    packager.feed(events[4])  # watermark at 4.0: nothing else starts before 4.0
    published.append(len(packager.segments(SOURCE)))
    assert published == [0, 2]
    assert len(packager.segments("es")) == 2  # its translation came before the watermark
    # A partial never publishes anything.
    assert packager.feed(event_to_dict(CaptionEvent("partial", "c2", 5.2, 5.5, " Today", "en")), False) == []


def test_translation_segments_wait_for_the_translation() -> None:
    packager = HlsPackager("show")
    events = broadcast()
    for event in [events[0], events[1], events[2], events[4]]:  # no translation yet, watermark at 4.0
        packager.feed(event, event["type"] != "watermark")
    assert len(packager.segments(SOURCE)) == 2 and len(packager.segments("es")) == 0
    packager.feed(events[3])
    assert len(packager.segments("es")) == 2
    assert "Buenas noches" in packager.segments("es")[0].text


def test_source_segments_follow_finals_and_translations_wait_for_their_sentence() -> None:
    packager = HlsPackager("show")
    packager.feed(SESSION)
    final, sent = sentence_events(1, 0.5, 3.1, "Good evening and welcome to the show.", 1)
    packager.feed(final)
    packager.feed(watermark(6.0, 1), False)
    assert len(packager.segments(SOURCE)) == 3  # the final's words are out: no need to wait
    assert packager.segments("es") == []  # the sentence begun at 0.5 s is not complete yet
    packager.feed(sent)
    assert packager.segments("es") == []  # nor translated
    packager.feed(translation_event(1, 0.5, 3.1, "Buenas noches y bienvenidos al programa.", 3))
    assert len(packager.segments("es")) == 3


def test_sliding_window_and_names() -> None:
    options = HlsOptions(segment_duration=1.0, window_segments=3, keep_segments=4)
    packager = feed_all(broadcast(), options)
    playlist = m3u8.loads(packager.playlist("es"))
    assert playlist.media_sequence == 10 and len(playlist.segments) == 3  # 13 segments, 3 listed
    assert packager.resolve("en") == SOURCE and packager.resolve("source") == SOURCE
    assert packager.resolve("es") == "es" and packager.resolve("fr") is None
    old = packager.segments("es")[0].name
    assert packager.segment("es", old) is not None and packager.segment("es", "0.1-0.vtt") is None


def test_detected_language_names_the_source_rendition() -> None:
    packager = HlsPackager("show")
    packager.feed(dict(SESSION, source_lang=None, languages=["en"]))
    final = event_to_dict(CaptionEvent("final", "c1", 0.5, 1.0, " Hola", "es", (), "s1", 1, 2.0))
    packager.feed(final)
    info = {r.name: r for r in packager.renditions()}
    assert info[SOURCE].language == "es" and packager.resolve("es") is None or info["en"]
    assert packager.resolve("source") == SOURCE


def test_unseen_stream_has_no_playlist_and_ended_stream_ends_its_playlist() -> None:
    packager = HlsPackager("show")
    assert packager.resolve("source") is None
    packager = feed_all(broadcast())
    assert packager.playlist(SOURCE).rstrip().endswith("#EXT-X-ENDLIST")


MASTER = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2"
low/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2000000,SUBTITLES="old"
https://cdn.example/high/index.m3u8
"""


def test_master_playlist_gets_the_group_on_every_variant_with_absolute_uris() -> None:
    media = [SubtitleMedia("English", "en", "http://s/hls/show/source.m3u8", True),
             SubtitleMedia("Español", "es", "http://s/hls/show/es.m3u8", False)]
    text = add_subtitles(MASTER, "http://origin.example/live/master.m3u8", media)
    parsed = m3u8.loads(text)
    subs = [m for m in parsed.media if m.type == "SUBTITLES"]
    assert [(m.name, m.language, m.default) for m in subs] == [("English", "en", "YES"), ("Español", "es", "NO")]
    assert [p.stream_info.subtitles for p in parsed.playlists] == ["livetrans", "livetrans"]
    assert [p.uri for p in parsed.playlists] == ["http://origin.example/live/low/index.m3u8",
                                                 "https://cdn.example/high/index.m3u8"]


@pytest.mark.parametrize("body, reason", [
    ("<!doctype html><html><body>hi</body></html>", "did not answer an HLS playlist"),
    ("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n", "not a master playlist"),
])
def test_master_playlist_refuses_what_is_not_one(body: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        add_subtitles(body, "http://origin.example/x.m3u8", [])
