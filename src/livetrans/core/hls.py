"""HLS WebVTT subtitle renditions from caption events (pure: no I/O, no clock).

An :class:`HlsPackager` is fed one stream's events as viewers receive them
(``event_to_dict`` dicts with ``seq``), the session markers (``session``/``end``
records) and the non-durable ``watermark`` events, and keeps one rendition per
language: ``source`` (the recognised text, in whatever language is spoken) and
one per translation target. Each rendition is a live WebVTT media playlist over
fixed-length segments: segment ``k`` covers stream seconds ``[k*D, (k+1)*D)``.

Source cues are built from finals (each final's words, with the same line and
reading-speed rules as the SRT/VTT files); translation cues from final translations.

The publication rule: segment ``k`` of a rendition is published once no cue that
overlaps it can still appear or change, that is once

- no final that starts before ``(k+1)*D`` is still to come (the last final's end and
  the recogniser's watermark say how far that holds),
- for a translation rendition, every sentence that starts before ``(k+1)*D`` is
  complete and has its final translation (or was passed over: translations come in
  sentence order), and
- the cue builder holds no cue starting before ``(k+1)*D`` (the last cue of an item
  waits until the next item, or a watermark, fixes its end).

So a source segment lags the live edge by about the final-caption latency plus up to
one segment; a translated one by the sentence and translation latency plus up to one
segment. A cue that spans two segments
appears in both with the same times (players merge such cues).

Everything here is a function of the events fed in, in order: two packagers fed
the same events produce byte-identical playlists and segments.

Cue times are stream seconds (0.0 = the session's first audio sample); each
segment's ``X-TIMESTAMP-MAP`` maps ``LOCAL:00:00:00.000`` to the session's
``pts_offset`` (the presentation time of that first sample) in 90 kHz MPEG-TS units.

Adding the renditions to a video's master playlist: ``hls_master``.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from ..types import CaptionEvent, Cue, SentenceEvent, TranslationEvent
from .cues import CueBuilder, CueOptions
from .events import event_from_dict
from .subtitles import VTT

SOURCE = "source"  # the source rendition's stable name
MPEGTS_HZ = 90_000  # MPEG-TS clock rate
MPEGTS_WRAP = 1 << 33  # MPEG-TS timestamps are 33 bits
def _same_language(a: str, b: str) -> bool:
    try:
        from ..mt.languages import same_language  # light: a code table, no model library

        return same_language(a, b)
    except Exception:  # an unknown code: compare the primary subtags
        return a.split("-")[0].lower() == b.split("-")[0].lower()


@dataclass(frozen=True)
class HlsOptions:
    """How subtitle renditions are cut; change with ``dataclasses.replace``."""

    segment_duration: float = 2.0  # s, every segment's length (EXT-X-TARGETDURATION)
    window_segments: int = 15  # segments a live playlist lists
    keep_segments: int = 30  # segments still served after they leave the window
    pts_offset: float = 0.0  # s, presentation time of the first sample when the session gives none
    cues: CueOptions = field(default_factory=CueOptions)


@dataclass(frozen=True)
class Segment:
    index: int  # from 0 in each session; the playlist's media sequence number
    start: float  # stream seconds
    duration: float  # s
    name: str  # file name, relative to the rendition's folder
    text: str  # the WebVTT file
    published_at: float  # emitted_at (wall seconds of the stream) of the event that published it

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class RenditionInfo:
    name: str  # in URLs: "source" or the target's code
    language: str | None  # the LANGUAGE attribute (the detected one for an auto source)
    is_source: bool


def _by_start(cue: Cue) -> tuple[float, float]:
    return (cue.start, cue.end)


class _Rendition:
    def __init__(self, name: str, language: str | None, options: HlsOptions) -> None:
        self.name = name
        self.language = language
        self.builder = CueBuilder(options.cues)
        self.cues: list[Cue] = []  # final cues not yet behind every published segment, by start
        self.segments: deque[Segment] = deque(maxlen=max(options.keep_segments, options.window_segments))
        self.next_index = 0
        self.pending: dict[str, float] = {}  # sentence id -> start, awaiting its translation

    def hold(self, cues: list[Cue]) -> None:
        for cue in cues:
            insort(self.cues, cue, key=_by_start)

    def take(self, start: float, end: float) -> list[Cue]:
        """The held cues shown in ``[start, end)``; those ending by ``end`` are let go.

        Only the cues starting before ``end`` are looked at, so a backlog of
        later cues costs nothing per segment."""
        n = bisect_left(self.cues, end, key=lambda c: c.start)
        shown = [c for c in self.cues[:n] if c.end > start]
        self.cues[:n] = [c for c in shown if c.end > end]
        return shown


class HlsPackager:
    """One stream's subtitle renditions; feed it every event with :meth:`feed`."""

    def __init__(self, stream: str, options: HlsOptions | None = None) -> None:
        self.stream = stream
        self.options = options or HlsOptions()
        if not self.options.segment_duration > 0:
            raise ValueError("segment_duration must be positive")
        self.session: str | None = None  # in segment names: unique per session
        self.source_lang: str | None = None  # fixed by the session, else the first detected
        self.fixed_source: str | None = None
        self.pts_offset = self.options.pts_offset
        self.ended = False
        self._renditions: dict[str, _Rendition] = {}
        self._open: dict[str, float] = {}  # sentence id -> start of its first final
        self._closed: set[str] = set()
        self._settled = 0.0  # s: no sentence not yet begun starts before this
        self._audio_end = 0.0
        self._now = 0.0  # emitted_at of the latest event
        self._source_track: str | None = None

    # ------------------------------------------------------------------ input

    def feed(self, event: dict[str, Any], durable: bool = True) -> list[str]:
        """Take one event; returns the renditions whose playlist changed."""
        kind = event.get("type")
        if kind == "session":
            self._begin(event)
            return list(self._renditions)
        if self.session is None or self.ended:
            return []
        emitted = event.get("emitted_at")
        if isinstance(emitted, (int, float)):
            self._now = max(self._now, float(emitted))
        if kind == "end":
            return self._finish()
        if kind == "watermark":
            self._settled = max(self._settled, float(event["time"]))
            self._audio_end = max(self._audio_end, float(event["time"]))
        elif kind == "caption" and event.get("kind") == "final":
            self._final(event)
        elif kind == "sentence":
            self._sentence(event)
        elif kind == "translation" and event.get("kind") == "final":
            self._translation(event)
        else:
            return []
        return self._advance()

    def _begin(self, marker: dict[str, Any]) -> None:
        options = self.options
        started = marker.get("started_at") or 0.0
        self.session = f"{int(marker.get('seq_base') or 0)}.{round(float(started) * 1000)}"
        self.fixed_source = marker.get("source_lang") or None
        self.source_lang = self.fixed_source
        pts = marker.get("pts_offset")
        self.pts_offset = float(pts) if isinstance(pts, (int, float)) else options.pts_offset
        self.ended = False
        self._open, self._closed = {}, set()
        self._settled = self._audio_end = self._now = 0.0
        self._source_track = self.fixed_source
        self._renditions = {SOURCE: _Rendition(SOURCE, self.source_lang, options)}
        for lang in marker.get("languages") or []:
            if lang != self.fixed_source and lang not in self._renditions:
                self._renditions[lang] = _Rendition(lang, lang, options)

    def _final(self, event: dict[str, Any]) -> None:
        lang = event.get("lang") or None
        if self.source_lang is None and lang:
            self.source_lang = self._renditions[SOURCE].language = lang
        caption = event_from_dict(event)
        assert isinstance(caption, CaptionEvent)
        if caption.sentence_id and caption.sentence_id not in self._closed:
            self._open[caption.sentence_id] = min(self._open.get(caption.sentence_id, caption.start), caption.start)
        self._settled = max(self._settled, caption.end)
        if self._source_track is None:
            self._source_track = caption.lang or "und"
        # The source's cues come from finals (a few words each), not from whole sentences:
        # a segment then waits for its words, not for the end of a long sentence. One cue
        # track for the source, whatever language each final is in.
        item = SentenceEvent(caption.id, caption.start, caption.end, caption.text, self._source_track,
                             caption.words, (caption.id,), caption.seq, caption.emitted_at)
        self._push(self._renditions[SOURCE], item)

    def _sentence(self, event: dict[str, Any]) -> None:
        sentence = event_from_dict(event)
        assert isinstance(sentence, SentenceEvent)
        self._open.pop(sentence.id, None)
        self._closed.add(sentence.id)
        self._settled = max(self._settled, sentence.end)
        for rendition in self._targets():
            if sentence.lang and _same_language(sentence.lang, rendition.name):
                # Spoken in the target language: shown as spoken, as the viewers' filter does.
                self._push(rendition, replace(sentence, lang=rendition.name))
            else:
                rendition.pending[sentence.id] = sentence.start

    def _translation(self, event: dict[str, Any]) -> None:
        rendition = self._renditions.get(str(event.get("lang")))
        if rendition is None or rendition.name == SOURCE:
            return
        translation = event_from_dict(event)
        assert isinstance(translation, TranslationEvent)
        # Translations come in sentence order: an earlier sentence still pending was
        # passed over (a pair the model cannot do, an empty text).
        rendition.pending = {
            sid: start for sid, start in rendition.pending.items()
            if sid != translation.id and start > translation.start
        }
        self._push(rendition, translation)

    def _push(self, rendition: _Rendition, item: SentenceEvent | TranslationEvent) -> None:
        rendition.hold(rendition.builder.push(item))

    def _targets(self) -> list[_Rendition]:
        return [r for name, r in self._renditions.items() if name != SOURCE]

    # ------------------------------------------------------------------ segments

    def _final_until(self, rendition: _Rendition) -> float:
        if rendition.name == SOURCE:
            return self._settled
        # A translation starts where its sentence starts: sentences begun (finals out)
        # and sentences awaiting their translation hold the rendition back.
        return min([self._settled, *self._open.values(), *rendition.pending.values()])

    def _advance(self) -> list[str]:
        changed = []
        for rendition in self._renditions.values():
            until = self._final_until(rendition)
            rendition.hold(rendition.builder.release(until))
            held = rendition.builder.held_start()
            if held is not None:
                until = min(until, held)
            if self._publish(rendition, until, last=None):
                changed.append(rendition.name)
        return changed

    def _finish(self) -> list[str]:
        end = self._audio_end
        for rendition in self._renditions.values():
            rendition.hold(rendition.builder.flush())
            end = max([end, *(c.end for c in rendition.cues)])
        for rendition in self._renditions.values():
            self._publish(rendition, math.inf, last=end)
        self.ended = True
        return list(self._renditions)

    def _publish(self, rendition: _Rendition, until: float, last: float | None) -> bool:
        """Publish every segment that ends by ``until`` (up to ``last`` at the end)."""
        d = self.options.segment_duration
        published = False
        while True:
            k = rendition.next_index
            start = k * d
            end = (k + 1) * d
            if last is not None:
                if start >= last - 1e-9:
                    break
                end = min(end, last)
            elif end > until + 1e-9:
                break
            cues = rendition.take(start, end)
            text = self._segment_text(cues)
            duration = round(end - start, 3)
            rendition.segments.append(
                Segment(k, round(start, 3), duration, f"{self.session}-{k}.vtt", text, self._now)
            )
            rendition.next_index += 1
            published = True
        return published

    def _segment_text(self, cues: list[Cue]) -> str:
        mpegts = round(self.pts_offset * MPEGTS_HZ) % MPEGTS_WRAP
        header = f"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000\n\n"
        return header + "".join(VTT.block(0, cue) for cue in sorted(cues, key=lambda c: (c.start, c.end)))

    # ------------------------------------------------------------------ output

    def resolve(self, name: str) -> str | None:
        """The rendition a URL name means: ``source``, the fixed source's code, a target."""
        if self.session is None:
            return None
        if name == SOURCE or (self.fixed_source is not None and name == self.fixed_source):
            return SOURCE
        return name if name in self._renditions else None

    def renditions(self) -> list[RenditionInfo]:
        return [RenditionInfo(r.name, r.language, r.name == SOURCE) for r in self._renditions.values()]

    def segments(self, name: str) -> list[Segment]:
        rendition = self._renditions.get(name)
        return list(rendition.segments) if rendition is not None else []

    def playlist(self, name: str) -> str | None:
        """The live media playlist of a rendition, or None for an unknown one."""
        rendition = self._renditions.get(name)
        if rendition is None:
            return None
        listed = list(rendition.segments)[-self.options.window_segments :]
        first = listed[0].index if listed else rendition.next_index
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{math.ceil(self.options.segment_duration - 1e-9)}",
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
        ]
        for segment in listed:
            lines.append(f"#EXTINF:{segment.duration:.3f},")
            lines.append(f"{name}/{segment.name}")
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def segment(self, name: str, file_name: str) -> str | None:
        rendition = self._renditions.get(name)
        if rendition is None:
            return None
        for segment in rendition.segments:
            if segment.name == file_name:
                return segment.text
        return None
