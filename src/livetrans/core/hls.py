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
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urljoin

import m3u8

from ..errors import ProtocolError
from ..types import CaptionEvent, Cue, SentenceEvent, TranslationEvent
from .cues import CueBuilder, CueOptions
from .events import event_from_dict
from .subtitles import VTT

SOURCE = "source"  # the source rendition's stable name
MPEGTS_HZ = 90_000  # MPEG-TS clock rate
MPEGTS_WRAP = 1 << 33  # MPEG-TS timestamps are 33 bits
SUBTITLE_GROUP = "livetrans"

# Language names written in the language itself (an HLS player shows NAME as is).
AUTONYMS = {
    "ar": "العربية", "de": "Deutsch", "en": "English", "es": "Español", "fr": "Français",
    "hi": "हिन्दी", "id": "Bahasa Indonesia", "it": "Italiano", "ja": "日本語", "ko": "한국어",
    "nl": "Nederlands", "pl": "Polski", "pt": "Português", "ru": "Русский", "sv": "Svenska",
    "th": "ไทย", "tr": "Türkçe", "uk": "Українська", "vi": "Tiếng Việt", "zh": "中文",
    "zh-CN": "中文（简体）", "zh-TW": "中文（繁體）", "zh-HK": "中文（香港）", "yue": "粵語",
}


def autonym(lang: str | None) -> str:
    """The language's name in that language; the code itself when not in the table."""
    if not lang:
        return "Original"
    return AUTONYMS.get(lang) or AUTONYMS.get(lang.split("-")[0]) or lang


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


class _Rendition:
    def __init__(self, name: str, language: str | None, options: HlsOptions) -> None:
        self.name = name
        self.language = language
        self.builder = CueBuilder(options.cues)
        self.cues: list[Cue] = []  # final cues not yet behind every published segment
        self.segments: deque[Segment] = deque(maxlen=max(options.keep_segments, options.window_segments))
        self.next_index = 0
        self.pending: dict[str, float] = {}  # sentence id -> start, awaiting its translation


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
        rendition.cues.extend(rendition.builder.push(item))

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
            rendition.cues.extend(rendition.builder.release(until))
            held = rendition.builder.held_start()
            if held is not None:
                until = min(until, held)
            if self._publish(rendition, until, last=None):
                changed.append(rendition.name)
        return changed

    def _finish(self) -> list[str]:
        end = self._audio_end
        for rendition in self._renditions.values():
            rendition.cues.extend(rendition.builder.flush())
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
            cues = [c for c in rendition.cues if c.start < end and c.end > start]
            text = self._segment_text(cues)
            duration = round(end - start, 3)
            rendition.segments.append(
                Segment(k, round(start, 3), duration, f"{self.session}-{k}.vtt", text, self._now)
            )
            rendition.next_index += 1
            rendition.cues = [c for c in rendition.cues if c.end > end]
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


# --------------------------------------------------------------------- master playlists


@dataclass(frozen=True)
class SubtitleMedia:
    """One ``#EXT-X-MEDIA:TYPE=SUBTITLES`` line."""

    name: str  # NAME, shown by players: written in the language itself
    language: str | None
    uri: str
    default: bool

    def line(self, group: str = SUBTITLE_GROUP) -> str:
        attrs = [f'TYPE=SUBTITLES,GROUP-ID="{group}"', f'NAME="{_quoted(self.name)}"']
        if self.language:
            attrs.append(f'LANGUAGE="{_quoted(self.language)}"')
        attrs.append(f"DEFAULT={'YES' if self.default else 'NO'}")
        attrs.append("AUTOSELECT=YES")
        attrs.append(f'URI="{_quoted(self.uri)}"')
        return "#EXT-X-MEDIA:" + ",".join(attrs)


def _quoted(value: str) -> str:
    return value.replace('"', "'").replace("\n", " ")


def subtitle_media(renditions: list[RenditionInfo], base_url: str) -> list[SubtitleMedia]:
    """The media lines for a stream's renditions; ``base_url`` ends in ``/hls/<stream>/``."""
    return [
        SubtitleMedia(autonym(r.language), r.language, urljoin(base_url, f"{r.name}.m3u8"), r.is_source)
        for r in renditions
    ]


def _set_attribute(attrs: str, name: str, value: str) -> str:
    """``attrs`` (an attribute list) with ``name`` set to the quoted ``value``."""
    parts = _split_attributes(attrs)
    parts = [p for p in parts if p.split("=", 1)[0].strip().upper() != name]
    return ",".join([*parts, f'{name}="{value}"'])


def _split_attributes(attrs: str) -> list[str]:
    parts, current, quoted = [], "", False
    for ch in attrs:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current:
        parts.append(current)
    return parts


def _absolute_uri_attribute(line: str, origin: str) -> str:
    head, sep, attrs = line.partition(":")
    parts = []
    for part in _split_attributes(attrs):
        key, eq, value = part.partition("=")
        if key.strip().upper() == "URI" and eq:
            value = '"' + urljoin(origin, value.strip().strip('"')) + '"'
        parts.append(f"{key}{eq}{value}")
    return head + sep + ",".join(parts)


def add_subtitles(master: str, origin_url: str, media: list[SubtitleMedia]) -> str:
    """An origin's master playlist with a ``SUBTITLES`` group of ``media`` added.

    Every variant (``#EXT-X-STREAM-INF``) gets ``SUBTITLES="livetrans"`` (replacing a
    group it had), and every relative URI is made absolute against ``origin_url``.
    Raises ProtocolError with a one-line reason for text that is not a master playlist.
    """
    text = master.lstrip("\ufeff \t\r\n")
    if not text.startswith("#EXTM3U"):
        start = text[:20].split("\n")[0]
        raise ProtocolError(f"the origin did not answer an HLS playlist (it starts with {start!r})")
    try:
        variant = m3u8.loads(text, uri=origin_url).is_variant
    except Exception as e:  # m3u8 raises plain exceptions on malformed tags
        raise ProtocolError(f"the origin's playlist does not parse: {e}") from e
    lines = text.splitlines()
    if not variant or not any(line.startswith("#EXT-X-STREAM-INF:") for line in lines):
        raise ProtocolError("the origin answered a media playlist, not a master playlist (no #EXT-X-STREAM-INF)")
    out: list[str] = []
    inserted = False
    uri_next = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#EXT-X-STREAM-INF:"):
            if not inserted:
                out.extend(m.line() for m in media)
                inserted = True
            head, _, attrs = stripped.partition(":")
            out.append(f"{head}:{_set_attribute(attrs, 'SUBTITLES', SUBTITLE_GROUP)}")
            uri_next = True
            continue
        if stripped.startswith(("#EXT-X-MEDIA:", "#EXT-X-I-FRAME-STREAM-INF:", "#EXT-X-SESSION-KEY:")):
            out.append(_absolute_uri_attribute(stripped, origin_url))
            continue
        if stripped and not stripped.startswith("#") and uri_next:
            out.append(urljoin(origin_url, stripped))
            uri_next = False
            continue
        out.append(line)
    return "\n".join(out) + "\n"
