"""The caption server's wire messages, close codes and request parsing (pure).

Nothing here touches sockets: the shells in ``app.py``/``ingest.py`` call these
functions and send what they return. Every message and close code is
documented in docs/protocol.md; keep the two in step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from ..core.vocabulary import Vocabulary, parse_vocabulary
from ..errors import GlossaryError, ProtocolError
from ..pcm import MAX_PCM_CHANNELS, MAX_PCM_RATE, MIN_PCM_RATE, PCM_FORMATS, PcmFormat

PROTOCOL_VERSION = 1

# Inbound size limits (bytes). websockets closes with 1009 past these.
MAX_INGEST_MESSAGE_BYTES = 1 << 20  # 1 MiB: ~2.7 s of 48 kHz stereo s16le
MAX_VIEWER_MESSAGE_BYTES = 4 << 10  # viewers only ever send tiny control messages

_STREAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_LANG_CODE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


class CloseCode(IntEnum):
    """WebSocket close codes the server uses (4000-4999 are ours)."""

    NORMAL = 1000  # the stream ended; an ``end`` message came first
    GOING_AWAY = 1001  # server shutting down: reconnect later with since=
    MESSAGE_TOO_BIG = 1009  # sent by websockets itself for oversized frames
    INTERNAL_ERROR = 1011  # a server bug; the log has the traceback
    TRY_AGAIN_LATER = 1013  # scaled out: Redis is unreachable right now; reconnect shortly
    VIEWER_TOO_SLOW = 4000  # queue overflow: reconnect at once with since=<seq in reason>
    BAD_REQUEST = 4400  # malformed query, start message or audio: fix the client
    UNAUTHORIZED = 4401  # missing or wrong token
    UNKNOWN_STREAM = 4404  # no such stream (yet): retry later or check /v1/streams
    STREAM_BUSY = 4409  # the stream already has an encoder connected
    WRONG_ROLE = 4421  # scaled out: ingest goes to a worker, viewers to an edge
    TOO_MANY_CONNECTIONS = 4429  # per-address connection limit reached


def close_reason(text: str) -> str:
    """A close reason fits in 123 UTF-8 bytes; cut longer ones cleanly."""
    data = text.encode("utf-8")
    if len(data) <= 123:
        return text
    return data[:120].decode("utf-8", errors="ignore") + "..."


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class Route:
    kind: Literal["ingest", "captions", "http", "hls", "unknown"]
    path: str
    stream: str = ""
    query: Mapping[str, str] | None = None


def parse_route(raw_path: str) -> Route:
    """Split a request path into the endpoint, stream name and query (last value wins)."""
    parts = urlsplit(raw_path)
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if len(segments) == 4 and segments[:2] == ["v1", "streams"]:
        if segments[3] in ("ingest", "captions"):
            kind: Literal["ingest", "captions"] = "ingest" if segments[3] == "ingest" else "captions"
            return Route(kind, parts.path, segments[2], query)
    if segments[:1] == ["hls"]:
        return Route("hls", parts.path, segments[1] if len(segments) > 1 else "", query)
    if parts.path in ("/healthz", "/metrics", "/v1/streams", "/overlay", "/overlay/", "/"):
        return Route("http", parts.path.rstrip("/") or "/", "", query)
    return Route("unknown", parts.path, "", query)


def check_stream_name(name: str) -> str:
    if not _STREAM_NAME.match(name):
        raise ProtocolError(
            f"invalid stream name {name!r}: use 1-64 letters, digits, '_', '.', '-'"
        )
    return name


def check_lang(code: str, what: str = "language") -> str:
    if not _LANG_CODE.match(code):
        raise ProtocolError(f"invalid {what} {code!r}: use a code such as 'en', 'es', 'zh-TW'")
    return code


def bearer_token(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The token from ``Authorization: Bearer T`` or, for browsers, ``?token=T``."""
    auth = headers.get("Authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    token = query.get("token")
    return token if token else None


# ------------------------------------------------------------------------ viewers


@dataclass(frozen=True)
class ViewerRequest:
    """What a captions viewer asked for in its query string.

    ``lang``: ``None`` means "the source captions only"; ``"*"`` means every event.
    ``source``: also send the source-language captions and sentences beside the
    translations (the overlay's two-line mode).
    ``since``: replay every durable event with a larger seq; ``None``: live only.
    """

    lang: str | None
    source: bool
    since: int | None


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_viewer_query(query: Mapping[str, str]) -> ViewerRequest:
    lang_raw = query.get("lang", "")
    lang: str | None
    if lang_raw in ("", "source"):
        lang = None
    elif lang_raw in ("*", "all"):
        lang = "*"
    else:
        lang = check_lang(lang_raw, "lang")
    source_raw = query.get("source", "0").lower()
    if source_raw not in _TRUE | _FALSE:
        raise ProtocolError(f"invalid source={source_raw!r}: use source=1 or source=0")
    since: int | None = None
    if "since" in query and query["since"] != "":
        try:
            since = int(query["since"])
        except ValueError as e:
            raise ProtocolError(
                f"invalid since={query['since']!r}: use the integer seq of the last event you have"
            ) from e
        if since < 0:
            raise ProtocolError("invalid since: seq numbers start at 0")
    return ViewerRequest(lang=lang, source=source_raw in _TRUE, since=since)


def viewer_wants(request: ViewerRequest, event_type: str, event_lang: str) -> bool:
    """The language filter: does this viewer get an event of this type and language?

    Source events (captions, partial and final, and sentences) go to viewers of
    the source (``lang`` unset), to viewers whose language is the event's own
    language (a speaker who switches into the viewer's language), and to viewers
    that asked for ``source=1``. Translations go to viewers of their language.
    """
    if request.lang == "*":
        return True
    if event_type == "translation":
        return request.lang is not None and event_lang == request.lang
    return request.lang is None or request.source or event_lang == request.lang


# ------------------------------------------------------------------------- ingest


@dataclass(frozen=True)
class IngestStart:
    sample_rate: int  # Hz of the PCM that follows
    channels: int
    sample_format: PcmFormat  # the PCM limits are livetrans.pcm's
    language: str | None  # None: detect
    targets: tuple[str, ...] | None  # None: the server's default targets
    start_pts: float | None = None  # s, presentation time of the first sample (HLS timeline)


def parse_json_message(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ProtocolError(f"malformed JSON ({e.msg} at char {e.pos}): send one JSON object per text message") from e
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError('a message must be a JSON object with a "type" string')
    return data


def _int_field(data: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ProtocolError(f'start: "{name}" must be an integer from {low} to {high}, got {value!r}')
    return value


def parse_ingest_start(data: Mapping[str, Any]) -> IngestStart:
    """Validate a ``start`` message (already parsed JSON with type "start")."""
    rate = _int_field(data, "sample_rate", MIN_PCM_RATE, MAX_PCM_RATE)
    channels = _int_field(data, "channels", 1, MAX_PCM_CHANNELS) if "channels" in data else 1
    fmt = data.get("format", "s16le")
    if fmt not in PCM_FORMATS:
        raise ProtocolError(
            f'start: unsupported sample format {fmt!r}: send raw interleaved PCM as "s16le" or "f32le"'
        )
    language = data.get("language", "auto")
    if language in (None, "", "auto"):
        lang: str | None = None
    elif isinstance(language, str):
        lang = check_lang(language, "start: language")
    else:
        raise ProtocolError('start: "language" must be a code such as "en" or "auto"')
    targets_raw = data.get("targets")
    targets: tuple[str, ...] | None = None
    if targets_raw is not None:
        if not isinstance(targets_raw, list) or not all(isinstance(t, str) for t in targets_raw):
            raise ProtocolError('start: "targets" must be a list of language codes, e.g. ["es", "fr"]')
        targets = tuple(check_lang(t, "start: target") for t in targets_raw)
    start_pts = data.get("start_pts")
    if start_pts is not None and (
        not isinstance(start_pts, (int, float)) or isinstance(start_pts, bool) or not 0 <= start_pts < 2**33 / 90_000
    ):
        raise ProtocolError('start: "start_pts" must be the seconds of the first sample\'s presentation time, >= 0')
    return IngestStart(rate, channels, fmt, lang, targets, None if start_pts is None else float(start_pts))


def parse_vocabulary_message(data: Mapping[str, Any]) -> Vocabulary:
    """Validate a ``vocabulary`` message: ``{"type": "vocabulary", "terms": [...]}``,
    the terms as in a JSON glossary file (docs/translation.md)."""
    if "terms" not in data:
        raise ProtocolError('vocabulary: send {"type": "vocabulary", "terms": [...]} (an empty list clears it)')
    try:
        return parse_vocabulary(data["terms"], "vocabulary")
    except GlossaryError as e:
        raise ProtocolError(f"{e}; the stream goes on with its previous vocabulary") from e


def bytes_per_frame(start: IngestStart) -> int:
    """Bytes of one PCM frame (one sample on every channel)."""
    return (2 if start.sample_format == "s16le" else 4) * start.channels


F32_LIMIT = 16.0  # |sample| of real float audio stays near 1; s16le read as f32le does not


def pcm_problem(start: IngestStart, data: bytes, offset: int) -> str | None:
    """A reason to refuse this binary message as audio of the announced format, or None.

    ``offset`` is how many PCM bytes came before (messages may split samples).
    For f32le, values that are not finite or far outside [-1, 1] mean the
    encoder sends something else (most often s16le).
    """
    if not data:
        return "empty binary message: send PCM bytes, or {\"type\":\"end\"} to finish"
    if start.sample_format != "f32le":
        return None
    skip = (-offset) % 4
    usable = (len(data) - skip) // 4 * 4
    if usable <= 0:
        return None
    samples = np.frombuffer(data, dtype="<f4", count=usable // 4, offset=skip)
    if not np.all(np.isfinite(samples)) or float(np.max(np.abs(samples))) > F32_LIMIT:
        return (
            "audio does not look like f32le (non-finite or huge sample values): "
            "check the start message's format (s16le for 16-bit integer PCM)"
        )
    return None


# ------------------------------------------------------------------ server messages


def hello_message(
    *,
    stream: str,
    live: bool,
    source_lang: str | None,
    languages: list[str],
    request: ViewerRequest,
    last_seq: int,
) -> dict[str, Any]:
    return {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "stream": stream,
        "live": live,
        "source_lang": source_lang,
        "languages": languages,
        "lang": request.lang,
        "source": request.source,
        "since": request.since,
        "last_seq": last_seq,
    }


def end_message(stream: str, last_seq: int, reason: str) -> dict[str, Any]:
    return {"type": "end", "stream": stream, "last_seq": last_seq, "reason": reason}


def gap_message(after_seq: int, next_seq: int) -> dict[str, Any]:
    """Events after_seq+1 .. next_seq-1 are no longer available (journal off or pruned)."""
    return {"type": "gap", "after_seq": after_seq, "next_seq": next_seq}


def error_message(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def dumps(message: Mapping[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))
