"""Captions on a terminal, for the commands that print a stream as it is captioned."""

from __future__ import annotations

import logging
from typing import TextIO

from .core.events import event_to_json
from .types import CaptionEvent, ErrorEvent, Event, SentenceEvent, TranslationEvent, WatermarkEvent

log = logging.getLogger(__name__)


class CaptionPrinter:
    """Captions on a terminal: the sentence grows in place, a line per finished one."""

    def __init__(self, mode: str, out: TextIO) -> None:
        self.mode = mode
        self.out = out
        self.tty = out.isatty()
        self._final_text = ""

    def show(self, event: Event) -> None:
        if isinstance(event, WatermarkEvent):
            return  # a timing signal for packagers, not a caption
        if isinstance(event, ErrorEvent):
            log.warning("%s failed for %s: %s", event.stage, event.id or "the stream", event.message)
            if self.mode != "jsonl":
                return
        if self.mode == "jsonl":
            print(event_to_json(event), file=self.out, flush=True)
        elif self.mode == "text":
            self._text(event)

    def _text(self, event: Event) -> None:
        if isinstance(event, CaptionEvent):
            if event.kind == "final":
                self._final_text = f"{self._final_text} {event.text}".strip()
            if self.tty:
                tail = event.text if event.kind == "partial" else ""
                line = f"{self._final_text} \x1b[2m{tail}\x1b[0m".rstrip()
                self.out.write(f"\r\x1b[K[{event.lang}] {line}")
                self.out.flush()
        elif isinstance(event, SentenceEvent):
            self._final_text = ""
            prefix = "\r\x1b[K" if self.tty else ""
            print(f"{prefix}[{event.start:7.2f} → {event.end:7.2f}] {event.lang}: {event.text}", file=self.out, flush=True)
        elif isinstance(event, TranslationEvent) and event.kind == "final":
            print(f"{'':21}{event.lang}: {event.text}", file=self.out, flush=True)
