"""Caption events to and from plain JSON-ready dicts (the wire and JSONL format).

The format is documented in docs/events.md. Times are numbers (seconds), never
formatted strings; floats are rounded to milliseconds.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from ..errors import ProtocolError
from ..types import CaptionEvent, ErrorEvent, Event, SentenceEvent, TranslationEvent, WatermarkEvent, Word

_TIME_DIGITS = 3


def _round(value: float) -> float:
    return round(float(value), _TIME_DIGITS)


def word_to_dict(word: Word) -> dict[str, Any]:
    return {
        "start": _round(word.start),
        "end": _round(word.end),
        "text": word.text,
        "probability": round(float(word.probability), 3),
    }


def word_from_dict(data: dict[str, Any]) -> Word:
    return Word(
        start=float(data["start"]),
        end=float(data["end"]),
        text=str(data["text"]),
        probability=float(data.get("probability", 1.0)),
    )


def event_to_dict(event: Event) -> dict[str, Any]:
    """The JSON-ready form of an event, ``type`` first."""
    out: dict[str, Any] = {"type": event.type}
    for f in fields(event):
        if f.name == "type":
            continue
        value = getattr(event, f.name)
        if f.name == "words":
            out["words"] = [word_to_dict(w) for w in value]
        elif f.name == "caption_ids":
            out["caption_ids"] = list(value)
        elif isinstance(value, float):
            out[f.name] = _round(value)
        else:
            out[f.name] = value
    return out


_EventClass = (
    type[CaptionEvent] | type[SentenceEvent] | type[TranslationEvent] | type[WatermarkEvent] | type[ErrorEvent]
)
_TYPES: dict[str, _EventClass] = {
    "caption": CaptionEvent,
    "sentence": SentenceEvent,
    "translation": TranslationEvent,
    "watermark": WatermarkEvent,
    "error": ErrorEvent,
}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Parse an event dict (as written by :func:`event_to_dict`)."""
    try:
        cls = _TYPES[data["type"]]
    except (KeyError, TypeError) as e:
        raise ProtocolError(f"not a caption event: unknown type {data.get('type')!r}") from e
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name == "type" or f.name not in data:
            continue
        value = data[f.name]
        if f.name == "words":
            value = tuple(word_from_dict(w) for w in value)
        elif f.name == "caption_ids":
            value = tuple(value)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ProtocolError(f"malformed {data['type']} event: {e}") from e


def event_to_json(event: Event) -> str:
    """One line of JSONL."""
    return json.dumps(event_to_dict(event), ensure_ascii=False, separators=(",", ":"))
