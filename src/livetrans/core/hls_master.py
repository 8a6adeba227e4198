"""Subtitles added to a video's HLS master playlist (pure text in, text out).

A master playlist from the video's origin gets one ``#EXT-X-MEDIA:TYPE=SUBTITLES``
line per rendition of an ``HlsPackager`` (named in the language itself), and every
variant stream is pointed at that subtitle group; relative URIs are made absolute
against the origin, since the edited playlist is served from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

import m3u8

from ..errors import ProtocolError
from .hls import RenditionInfo

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
