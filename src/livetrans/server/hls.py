"""HLS subtitle renditions over HTTP and to a folder (the shell around core/hls.py).

``HlsService`` attaches one ``HlsPackager`` to each stream through the stream's
``listeners`` hook (the same events viewers get, and the session markers), so it
works wherever a ``StreamState`` is fed: the single process, or an edge mirroring a
bus. It answers::

    GET /hls/{stream}/{lang|source}.m3u8            live WebVTT media playlist
    GET /hls/{stream}/{lang|source}/{file}.vtt      a segment (immutable)
    GET /hls/{stream}/master.m3u8?origin=URL        the origin's master playlist + subtitles

and, with ``directory`` set, writes the same playlists and segments to
``directory/{stream}/`` atomically (write a temporary file, then rename it).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from ..core.hls import HlsOptions, HlsPackager
from ..core.hls_master import SubtitleMedia, add_subtitles, subtitle_media
from ..errors import ProtocolError

if TYPE_CHECKING:
    from .hub import StreamState

logger = logging.getLogger(__name__)

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
VTT_TYPE = "text/vtt; charset=utf-8"
ORIGIN_TIMEOUT = 5.0  # s, to fetch an origin's master playlist
MAX_ORIGIN_BYTES = 1 << 20  # a master playlist is a few KiB


def _response(status: int, body: bytes, content_type: str, cache: str) -> Response:
    code = http.HTTPStatus(status)
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
            ("Cache-Control", cache),
            ("Access-Control-Allow-Origin", "*"),
        ]
    )
    return Response(code.value, code.phrase, headers, body)


def _error(status: int, reason: str) -> Response:
    return _response(status, (reason.rstrip() + "\n").encode("utf-8"), "text/plain; charset=utf-8", "no-store")


@dataclass(frozen=True)
class HlsConfig:
    options: HlsOptions = HlsOptions()
    directory: Path | None = None  # also write playlists and segments here
    base_url: str | None = None  # public URL of this server (CDN) for master playlists


class HlsService:
    def __init__(self, config: HlsConfig | None = None, token: str | None = None) -> None:
        self.config = config or HlsConfig()
        self.token = token  # the viewer token: then every HLS request needs ?token=
        self.packagers: dict[str, HlsPackager] = {}
        self._written: dict[tuple[str, str], set[str]] = {}

    # ------------------------------------------------------------------ events

    def attach(self, stream: StreamState) -> HlsPackager:
        packager = self.packagers.get(stream.name)
        if packager is None:
            packager = self.packagers[stream.name] = HlsPackager(stream.name, self.config.options)

        def listener(event: dict[str, Any], durable: bool) -> None:
            changed = packager.feed(event, durable)
            if changed and self.config.directory is not None:
                self._write(packager, changed)

        stream.listeners.append(listener)
        return packager

    def _write(self, packager: HlsPackager, names: list[str]) -> None:
        assert self.config.directory is not None
        root = self.config.directory / packager.stream
        for name in names:
            folder = root / name
            folder.mkdir(parents=True, exist_ok=True)
            written = self._written.setdefault((packager.stream, name), set())
            kept = set()
            for segment in packager.segments(name):
                kept.add(segment.name)
                if segment.name not in written:
                    _write_atomically(folder / segment.name, segment.text.encode("utf-8"))
                    written.add(segment.name)
            playlist = packager.playlist(name)
            if playlist is not None:
                _write_atomically(root / f"{name}.m3u8", playlist.encode("utf-8"))
            for old in written - kept:  # out of the window and of what players may still ask for
                with contextlib.suppress(OSError):
                    (folder / old).unlink()
            written &= kept

    # ------------------------------------------------------------------ HTTP

    def media_lines(self, stream: str, base_url: str) -> list[SubtitleMedia]:
        packager = self.packagers.get(stream)
        if packager is None or packager.session is None:
            return []
        base = f"{(self.config.base_url or base_url).rstrip('/')}/hls/{quote(stream, safe='')}/"
        media = subtitle_media(packager.renditions(), base)
        if self.token:
            suffix = "?" + urlencode({"token": self.token})
            media = [SubtitleMedia(m.name, m.language, m.uri + suffix, m.default) for m in media]
        return media

    def http_response(self, request: Request, query: Mapping[str, str], base_url: str) -> Response | Awaitable[Response]:
        path = urlsplit(request.path).path
        parts = [unquote(p) for p in path.split("/") if p][1:]  # after "hls"
        if self.token is not None and query.get("token") != self.token:
            return _error(401, "missing or wrong token: add ?token=<viewer token>")
        if len(parts) < 2:
            return _error(404, "use /hls/<stream>/<lang>.m3u8 or /hls/<stream>/master.m3u8?origin=<URL>")
        stream, rest = parts[0], parts[1:]
        packager = self.packagers.get(stream)
        if packager is None or packager.session is None:
            return _error(404, f"no stream {stream!r} with subtitles; see /v1/streams")
        if rest == ["master.m3u8"]:
            return self._master(stream, query, base_url)
        if len(rest) == 1 and rest[0].endswith(".m3u8"):
            asked = rest[0][: -len(".m3u8")]
            name = packager.resolve(asked)
            playlist = packager.playlist(name) if name is not None else None
            if name is None or playlist is None:
                offered = ", ".join(r.name for r in packager.renditions())
                return _error(404, f"stream {stream!r} has no subtitles in {asked!r}; it offers {offered}")
            max_age = 60 if packager.ended else max(1, int(packager.options.segment_duration / 2))
            return _response(200, self._with_token(playlist).encode("utf-8"), PLAYLIST_TYPE,
                             f"public, max-age={max_age}")
        if len(rest) == 2 and rest[1].endswith(".vtt"):
            name = packager.resolve(rest[0])
            text = packager.segment(name, rest[1]) if name is not None else None
            if text is None:
                return _error(404, f"no segment {rest[0]}/{rest[1]} (it may have left the window)")
            return _response(200, text.encode("utf-8"), VTT_TYPE, "public, max-age=31536000, immutable")
        return _error(404, f"nothing at {path}")

    def _with_token(self, playlist: str) -> str:
        if not self.token:
            return playlist
        suffix = "?" + urlencode({"token": self.token})
        return "\n".join(
            line + suffix if line and not line.startswith("#") else line for line in playlist.split("\n")
        )

    async def _master(self, stream: str, query: Mapping[str, str], base_url: str) -> Response:
        origin = query.get("origin", "")
        scheme = urlsplit(origin).scheme.lower()
        if scheme not in ("http", "https"):
            return _error(400, "add ?origin=<http(s) URL of the origin's master playlist>")
        try:
            text = await asyncio.to_thread(_fetch, origin)
            body = add_subtitles(text, origin, self.media_lines(stream, base_url))
        except ProtocolError as e:
            logger.info("master playlist for %s from %s: %s", stream, origin, e)
            return _error(502, str(e))
        return _response(200, body.encode("utf-8"), PLAYLIST_TYPE, "public, max-age=2")


def _fetch(url: str) -> str:
    """The origin's playlist text; ProtocolError with a one-line reason when it fails."""
    request = urllib.request.Request(url, headers={"User-Agent": "livetrans-hls"})
    try:
        with urllib.request.urlopen(request, timeout=ORIGIN_TIMEOUT) as reply:  # noqa: S310 (http(s) only)
            data = reply.read(MAX_ORIGIN_BYTES + 1)
    except urllib.error.HTTPError as e:
        raise ProtocolError(f"the origin answered HTTP {e.code} for {url}") from e
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise ProtocolError(f"cannot fetch the origin {url}: {reason}") from e
    if len(data) > MAX_ORIGIN_BYTES:
        raise ProtocolError(f"the origin's answer is over {MAX_ORIGIN_BYTES} bytes: not a master playlist")
    try:
        text: str = data.decode("utf-8")
        return text
    except UnicodeDecodeError as e:
        raise ProtocolError("the origin's answer is not UTF-8 text: not a playlist") from e


def _write_atomically(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never a part: write aside, then rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
